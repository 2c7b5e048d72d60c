"""Rules of the error classifier (PROTOCOLS.md P3.3) on hand-made relations: each rule, their precedence, the
vectorised path against the per-image if-chain, the OOV caches with a fake CLIP chooser, and the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from jaxquba.error_analysis import metrics
from jaxquba.error_analysis.classify import ErrorType as T, classify, classify_one
from jaxquba.error_analysis.inputs import from_records
from jaxquba.error_analysis.oov import OOVRule, Proposals
from jaxquba.error_analysis.relations import (COLLAPSED_MAPPINGS, Relations, co_occurrence_counts,
                                              co_occurrence_matrix, collapsed_matrix, same_superclass_matrix)

N = 1000


def _relations(same_pairs=(), co_pairs=()):
    superclasses = [frozenset({f"c{i}"}) for i in range(N)]
    for a, b in same_pairs:
        superclasses[a] = superclasses[a] | {f"s{a}-{b}"}
        superclasses[b] = superclasses[b] | {f"s{a}-{b}"}
    same = same_superclass_matrix(superclasses)
    co = np.zeros((N, N), bool)
    for a, b in co_pairs:
        co[a, b] = co[b, a] = True
    return Relations(collapsed_matrix(), same, co & ~same, tuple(superclasses))


def _data(rows):
    """rows: (file, target, correct labels, problematic)."""
    return from_records({"file_name": f, "original_label": t, "correct_multi_labels": m, "unclear_multi_labels": [],
                         "is_problematic": p} for f, t, m, p in rows)


REL = _relations(same_pairs=[(10, 11), (20, 21)], co_pairs=[(30, 31), (10, 40)])
NONPROTO = frozenset({"np.JPEG"})


@pytest.mark.parametrize("target,labels,prediction,file,expected", [
    (10, [10], 10, "a", T.CORRECT),
    (250, [250], 248, "a", T.COLLAPSED),             # husky -> Eskimo dog
    (248, [248], 250, "a", T.NOT_CLASSIFIED),        # collapsed mappings are directed
    (836, [836], 837, "a", T.COLLAPSED),
    (10, [10, 50], 50, "a", T.MULTI_LABEL),
    (10, [10], 11, "a", T.SAME_SUPERCLASS),
    (50, [50, 20], 21, "a", T.SAME_SUPERCLASS),      # any label of M in p's superclass
    (30, [30], 31, "a", T.CO_OCCURRENCE),
    (60, [60, 30], 31, "a", T.CO_OCCURRENCE),
    (60, [60], 61, "np.JPEG", T.NON_PROTOTYPICAL),
    (60, [60], 61, "a", T.NOT_CLASSIFIED),
    # precedence: earlier rules win over later ones
    (250, [250, 248], 248, "a", T.COLLAPSED),        # collapsed before multi-label
    (10, [10, 11], 11, "a", T.MULTI_LABEL),          # multi-label before same superclass
    (10, [10], 40, "np.JPEG", T.CO_OCCURRENCE),      # co-occurrence before non-prototypical
    (10, [10, 30], 11, "np.JPEG", T.SAME_SUPERCLASS),  # same superclass before co-occurrence
    # problematic images whose target is not in M
    (10, [50], 11, "a", T.SIMILAR_TO_TARGET),
    (30, [50], 31, "a", T.CO_OCCURS_WITH_TARGET),
])
def test_each_rule_and_precedence(target, labels, prediction, file, expected):
    data = _data([(file, target, labels, target not in labels)])
    assert classify(np.array([prediction]), data, REL, NONPROTO)[0] == expected
    assert classify_one(target, labels, prediction, file, 0, REL, NONPROTO) == expected


def test_collapsed_mappings_transcribed_from_spec():
    # PROTOCOLS.md P3.2: 6 directed entries (250, 249, 385, 386, 504, 482 -> ...) + 435 -> 876, 5 mutual pairs
    # (10 entries) and the 4 mustelids all mutually (12 entries) = 29.
    assert collapsed_matrix().sum() == sum(len(v) for v in COLLAPSED_MAPPINGS.values()) == 6 + 1 + 10 + 12
    assert collapsed_matrix()[[356, 356, 356], [357, 358, 359]].all() and not collapsed_matrix()[101, 385]


def test_co_occurrence_needs_two_images_and_disjoint_superclasses():
    counts = co_occurrence_counts([[1, 2], [2, 1, 3], [10, 11], [10, 11], [5]])
    assert counts[1, 2] == counts[2, 1] == 2 and counts[1, 3] == 1
    same = same_superclass_matrix([frozenset({"a"}) if i in (10, 11) else frozenset({str(i)}) for i in range(N)])
    pairs = co_occurrence_matrix(counts, same)
    assert pairs[1, 2] and pairs[2, 1] and not pairs[1, 3] and not pairs[10, 11]


class FakeClip:
    """Prefers the prompt whose text contains `word`, else prompt 0; records every query it is shown."""

    def __init__(self, word):
        self.word, self.seen = word, []

    def __call__(self, queries):
        self.seen += [(q.image, q.prediction) for q in queries]
        return [next((i for i, p in enumerate(q.proposals.prompts) if self.word in p), 0) for q in queries]


def _oov_rule(chooser, neighbours):
    rule = OOVRule(chooser, REL.same_superclass, neighbours, wnids=[f"n{i:08d}" for i in range(N)])
    # Hand-made proposals (real ones need WordNet): offset 10**7 is out of vocabulary, offsets < 1000 are classes.
    rule.proposals = lambda p, t: Proposals(("A photo of a class", "A photo of a gizmo"), (p, 10**7))
    return rule


def test_oov_rule_gate_choice_and_caches():
    # images: 0 error 10->61 whose neighbour 60 shares no superclass with 61 (gate closed);
    #         1 error 70->11 with neighbour 10 (same superclass as 11, gate open) ; 2 same as 1 but CLIP picks class
    neighbours = np.array([[60] * 10, [10] + [0] * 9, [10] * 10])
    data = _data([("i0", 70, [70], False), ("i1", 70, [70], False), ("i2", 70, [70], False)])
    gizmo = FakeClip("gizmo")
    rule = _oov_rule(gizmo, neighbours)
    predictions = np.array([[61, 11, 11], [61, 11, 11], [61, 11, 5]])  # three models
    types = classify(predictions, data, REL, NONPROTO, rule)
    assert types.tolist() == [[T.NOT_CLASSIFIED, T.OOV, T.OOV]] * 2 + [[T.NOT_CLASSIFIED, T.OOV, T.NOT_CLASSIFIED]]
    # CLIP saw each distinct (image, prediction) once across the three models, and nothing the gate closed
    assert sorted(gizmo.seen) == [("i1", 11), ("i2", 11)]
    assert classify(predictions, data, REL, NONPROTO, rule).tolist() == types.tolist() and len(gizmo.seen) == 2
    # when CLIP prefers an in-vocabulary prompt the error is not OOV and falls through to later rules
    in_vocab = _oov_rule(FakeClip("class"), neighbours)
    in_vocab.proposals = rule.proposals
    assert (classify(predictions, data, REL, NONPROTO, in_vocab) != T.OOV).all()


def test_vectorised_equals_per_image_chain_on_random_data():
    rng = np.random.default_rng(0)
    n, m = 400, 5
    hot = np.array([10, 11, 20, 21, 30, 31, 40, 248, 250, 356, 357, 358, 836, 837])  # classes with relations
    targets = rng.choice(hot, n)
    rows = []
    for i, t in enumerate(targets):
        extra = rng.choice(hot, rng.integers(0, 3)).tolist()
        problematic = rng.random() < 0.1
        labels = extra if problematic else [int(t)] + extra
        rows.append(("np.JPEG" if i % 50 == 0 else f"f{i}", int(t), labels, problematic))
    data = _data(rows)
    predictions = np.where(rng.random((m, n)) < 0.5, targets[None], rng.choice(hot, (m, n)))
    neighbours = rng.choice(hot, (n, 10))
    vectorised = classify(predictions, data, REL, NONPROTO, _oov_rule(FakeClip("gizmo"), neighbours))
    loop_rule = _oov_rule(FakeClip("gizmo"), neighbours)
    looped = [[classify_one(int(data.targets[i]), data.sets()[i], int(predictions[k, i]), data.file_names[i], i,
                            REL, NONPROTO, loop_rule) for i in range(n)] for k in range(m)]
    assert vectorised.tolist() == looped
    assert len(set(vectorised.ravel().tolist())) >= 8  # the data exercises most rules


def test_mla_is_mean_of_per_class_accuracy():
    correct = np.array([[True, False, True, True], [False, False, False, True]])
    targets = np.array([0, 0, 5, 7])
    # model 0: class 0 -> 1/2, class 5 -> 1, class 7 -> 1  => 100 * 2.5 / 3
    np.testing.assert_allclose(metrics.mla(correct, targets), [250 / 3, 100 / 3])


def test_stats_counts_sum_to_top1_errors_and_skip_problematic():
    data = _data([("a", 10, [10], False), ("b", 30, [30], False), ("c", 60, [60], False), ("d", 10, [50], True),
                  ("np.JPEG", 60, [60], False), ("e", 10, [10, 50], False)])
    predictions = np.array([[11, 31, 61, 11, 61, 50], [10, 30, 60, 10, 60, 10]])
    types = classify(predictions, data, REL, NONPROTO)
    groups = {"all": np.ones(N, bool), "low": np.arange(N) < 20}
    out = metrics.stats(types, predictions, data, groups, imagenet_m=frozenset({"e", "c"}))
    first = out["all"][0]
    assert first["num_all_samples"] == 5 and first["num_group_top1_errors"] == 5
    assert sum(first[c] for c in metrics.COUNT_COLUMNS) == first["num_group_top1_errors"]
    assert (first["num_same_superclass"], first["num_common_co_occ"], first["num_non_prototypical"],
            first["num_not_classified"], first["num_ambiguous"]) == (1, 1, 1, 1, 1)
    # MLA over classes 10, 30, 60: class 10 has a=wrong, e=multi-label -> 1/2; classes 30, 60 -> 0
    assert first["mla_all"] == pytest.approx(100 * (0.5 + 0 + 0) / 3)
    assert first["mla_all_minor_error"] == pytest.approx(100 * (1 + 0 + 0) / 3)
    # explainable: + co-occurrence (b) and non-prototypical (np.JPEG); 'c' stays a major error -> class 60 at 1/2
    assert first["mla_all_explainable_error"] == pytest.approx(100 * (1 + 1 + 0.5) / 3)
    assert first["num_imagenet-m_errors"] == 1  # 'c' predicted 61 not in {60}; 'e' predicted 50 in {10, 50}
    assert out["low"][0]["num_group_samples"] == 2 and out["all"][1]["mla_all"] == 100.0
