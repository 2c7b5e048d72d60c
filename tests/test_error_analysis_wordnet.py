"""Error analysis on real WordNet 3.0 and the study's published data (../shared/data/error_analysis).

The agreement check of issue 8 point 3: on the study's published common error samples, the share of pairs listed as
fine-grained that our WordNet superclasses call fine-grained (rule 4), and the share of pairs listed as model
failures that rules 4 and 7 (fine-grained, co-occurrence) leave unexplained. Rule 6 needs CLIP and rule 8 is the
same list, so they are not part of the check. Measured values: 0.785 and 0.801 (docs/ERROR_ANALYSIS.md), below the
90 % target, which no superclass rule that decides a pair by its lowest common WordNet ancestors can reach (the
integer programme at the end of this file). The floors below are those measured values rounded down to 0.78 / 0.80, so a regression in
the construction or the relations fails.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxquba.error_analysis import analysis, inputs, published, report, superclasses
from jaxquba.error_analysis.oov import OOVRule, proposals_for
from jaxquba.error_analysis.wordnet import imagenet_wnids, synset_of


@pytest.fixture(scope="module")
def samples(shared_data):
    folder = shared_data / "error_analysis" / "eth_sri" / "common_error_samples"
    return {k: published.read_error_samples(folder / f"most_common_{k}.txt") for k in published.SAMPLE_KINDS}


@pytest.fixture(scope="module")
def rel(shared_data, samples):
    real = json.loads((shared_data / "real_labels" / "real.json").read_text())
    # The 20,000 multi-label file names are only in the tfds build; every listed sample is one of them.
    evaluated = {s.file_name for kind in samples.values() for s in kind}
    return analysis.build_relations(real, evaluated)


def test_wordnet_is_3_0_offline_and_resolves_every_class():
    wnids = imagenet_wnids()
    assert synset_of(wnids[281]).name() == "tabby.n.01" and synset_of(wnids[0]).name() == "tench.n.01"
    assert all(int(w[1:]) == synset_of(w).offset() for w in wnids[::37])


def test_agreement_with_published_decisions(samples, rel):
    same, co = rel.same_superclass, rel.co_occurrence
    fine = np.mean([any(same[c, s.prediction] for c in s.multi_labels) for s in samples["fg"]])
    unexplained = np.mean([not any(same[c, s.prediction] or co[c, s.prediction] for c in s.multi_labels)
                           for s in samples["model_failure"]])
    spurious = np.mean([any(co[c, s.prediction] for c in s.multi_labels) for s in samples["spurious_correlation"]])
    print(f"fine-grained agreement {fine:.3f}, model-failure agreement {unexplained:.3f}, "
          f"spurious pairs found {spurious:.3f}")
    assert (len(samples["fg"]), len(samples["model_failure"])) == (474, 442)
    assert fine >= 0.78 and unexplained >= 0.80
    # rules 2 and 3 do not depend on our constructions: every published instance must reproduce
    assert all(rel.collapsed[s.target, s.prediction] for s in samples["overlapping_classes"])
    assert all(s.prediction in s.multi_labels for s in samples["multi_label"])


def test_non_prototypical_list_and_groups(shared_data, samples):
    names = inputs.read_non_prototypical(shared_data / "error_analysis" / "imagenet_mistakes")
    assert len(names) == 36  # PROTOCOLS.md P3.1: union of the two DoughBagel files
    assert all(s.file_name in names for s in samples["non-proto"])
    groups = superclasses.lemma_groups()
    assert groups["organism"][281] and groups["artifact"][872] and groups["other"][970]  # tabby, tripod, alp
    assert not any(o and a for o, a in zip(groups["organism"], groups["artifact"]))


def test_oov_proposals_hold_clips_published_choice(samples, rel):
    """Published fg-OOV: tripod (872) predicted swing (843), CLIP's top proposals seesaw (offset 4167759) and
    stretcher (4336996) — both must be in our proposal list for (843, 872); and the query reaches the chooser."""
    wnids = imagenet_wnids()
    peers = [wnids[c] for c in np.flatnonzero(rel.same_superclass[843]) if c != 843]
    proposals = proposals_for(wnids[843], wnids[872], peers)
    assert {4167759, 4336996} <= set(proposals.offsets) and "A photo of a seesaw" in proposals.prompts
    rule = OOVRule(lambda qs: [q.proposals.prompts.index("A photo of a seesaw") for q in qs], rel.same_superclass,
                   np.full((1, 10), 843))
    assert rule.decide(["ILSVRC2012_val_00001409.JPEG"], np.array([843]), np.array([872])).tolist() == [True]


def test_report_places_a_published_model_at_its_rank(shared_data, tmp_path):
    csv = shared_data / "error_analysis" / "eth_sri" / "stats-imagenet" / "non_problematic_stats_all.csv"
    table = published.read_published_stats(csv)
    row = table[table.model_dir_id == "torchvision--alexnet"].iloc[0].to_dict()
    paths = report.write([row], csv, tmp_path)
    out = report.model_table([row], table)
    assert list(out.columns) == list(table.columns)
    where = report.positions(out, table).iloc[0]
    # AlexNet has the lowest top-1 of the 962 (PROTOCOLS.md P3.5) and the highest share of major errors
    assert where["top-1 accuracy"] < 0.1 and where["model failure (major)"] > 99.0
    assert paths["html"].read_text().count("data:image/png;base64,") == 1 and len(paths["png"].read_bytes()) > 10_000


def lca_rule_reaches(samples, fine_share: float, failure_share: float) -> bool:
    """Whether ANY superclass rule that decides "c and p share a superclass" by the lowest common WordNet hypernyms
    of (c, p) can reach both agreements: an integer programme over every such rule (one 0/1 choice per distinct
    set of lowest common hypernyms). A fine-grained sample agrees if some c in M is decided "same" with p; a model
    failure agrees only if no c is (co-occurrence, which can only explain more failures, is left out, so the
    answer is an upper bound for rules 4 + 7)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    wnids, ids = imagenet_wnids(), {}

    def groups(s):
        return {ids.setdefault(tuple(sorted(h.name() for h in synset_of(wnids[c]).lowest_common_hypernyms(
            synset_of(wnids[s.prediction])))), len(ids)) for c in s.multi_labels}

    fine, failure = [groups(s) for s in samples["fg"]], [groups(s) for s in samples["model_failure"]]
    n_groups, n_fine = len(ids), len(fine)
    size = n_groups + n_fine + len(failure)  # [rule choice per group | fine sample agrees | failure agrees]
    rows, upper = [], []
    for i, gs in enumerate(fine):  # agrees_i <= sum of the choices of its groups
        row = np.zeros(size)
        row[n_groups + i], row[list(gs)] = 1, -1
        rows.append(row), upper.append(0)
    for j, gs in enumerate(failure):  # agrees_j + choice_g <= 1 for each of its groups
        for g in gs:
            row = np.zeros(size)
            row[n_groups + n_fine + j], row[g] = 1, 1
            rows.append(row), upper.append(1)
    lower = [-np.inf] * len(rows)
    for part, share in ((slice(n_groups, n_groups + n_fine), fine_share),
                        (slice(n_groups + n_fine, size), failure_share)):
        row = np.zeros(size)
        row[part] = 1
        rows.append(row), lower.append(np.ceil(share * row.sum())), upper.append(np.inf)
    result = milp(np.zeros(size), constraints=LinearConstraint(np.array(rows), lower, upper),
                  integrality=np.ones(size), bounds=Bounds(0, 1))
    return bool(result.success)


def test_no_lowest_common_ancestor_rule_reaches_ninety_percent(samples):
    """Issue 8's 90 % / 90 % target is out of reach of every superclass rule decided by WordNet lowest common
    ancestors (tree cuts, size/depth thresholds, any set of anchor synsets), not just of ours; 86 % / 86 % is
    reachable, so the programme does find rules where they exist."""
    assert not lca_rule_reaches(samples, 0.90, 0.90)
    assert not lca_rule_reaches(samples, 0.88, 0.88)
    assert lca_rule_reaches(samples, 0.86, 0.86)
