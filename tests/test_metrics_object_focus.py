"""Object focus on ImageNet-9 style data: the 1000 -> 9 map, the −1 rule, and the P1.3 formula."""

import json

import numpy as np
import pytest

from jaxquba.errors import UserError
from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.metrics.object_focus import IN9_CLASSES, in9_predictions, load_in_to_in9, object_focus


def test_published_map_counts(shared_data):
    table = load_in_to_in9(shared_data / "imagenet_metadata" / "backgrounds_challenge" / "in_to_in9.json")
    counts = np.bincount(table[table >= 0], minlength=9)
    # Class counts stated in PROTOCOLS.md P1.3 (Dog 116, Bird 52, ..., Fish 16) and 630 unmapped classes.
    assert dict(zip(IN9_CLASSES, counts.tolist())) == dict(
        dog=116, bird=52, vehicle=42, reptile=36, carnivore=35, insect=27, instrument=26, primate=20, fish=16)
    assert np.sum(table == -1) == 630


def _dummy_split(rng, table, n, p_correct):
    """IN-9 style split: labels 0..8; the model's 1k argmax is a class of the label's group with probability
    p_correct, otherwise an unmapped (−1) class."""
    labels = rng.integers(0, 9, n)
    members = {k: np.flatnonzero(table == k) for k in range(-1, 9)}
    argmax = np.array([rng.choice(members[y]) if rng.random() < p_correct else rng.choice(members[-1])
                       for y in labels])
    logits = rng.normal(0, 1, (n, 1000)).astype(np.float32)
    logits[np.arange(n), argmax] += 20
    return logits, labels, np.mean(table[argmax] == labels)


def test_object_focus_on_dummy_in9_data(tmp_path):
    rng = np.random.default_rng(0)
    table = np.full(1000, -1)
    table[rng.choice(1000, 90, replace=False)] = np.repeat(np.arange(9), 10)
    path = tmp_path / "in_to_in9.json"
    path.write_text(json.dumps({str(i): int(v) for i, v in enumerate(table)}))
    loaded = load_in_to_in9(path)
    np.testing.assert_array_equal(loaded, table)
    same_logits, same_labels, same_expected = _dummy_split(rng, table, 450, 0.8)
    rand_logits, rand_labels, rand_expected = _dummy_split(rng, table, 450, 0.6)
    acc_same = top_k_accuracy(in9_predictions(same_logits.argmax(-1), loaded), same_labels)
    acc_rand = top_k_accuracy(in9_predictions(rand_logits.argmax(-1), loaded), rand_labels)
    assert acc_same == pytest.approx(same_expected) and acc_rand == pytest.approx(rand_expected)
    assert object_focus(acc_same, acc_rand, 0.75) == pytest.approx(1 - (same_expected - rand_expected) / 0.75)


def test_bad_map_is_a_user_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0": 3}))
    with pytest.raises(UserError, match="in_to_in9"):
        load_in_to_in9(path)
