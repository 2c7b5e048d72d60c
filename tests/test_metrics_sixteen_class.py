"""16-class mapping (P1.5) against model-vs-human's lists in shared data, decisions, 16-class accuracy and the
shape-bias formula on synthetic outputs."""

import json

import numpy as np
import pytest
from scipy.special import softmax

from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.metrics.sixteen_class import (CATEGORIES, MEMBERS, category_indices, shape_bias,
                                           sixteen_class_decisions, texture_category)


def test_members_equal_model_vs_human_lists(shared_data):
    reference = json.loads((shared_data / "imagenet_metadata" / "imagenet16_mapping.json").read_text())
    assert list(CATEGORIES) == sorted(reference["indices"]) == list(reference["categories"])
    for category in CATEGORIES:
        assert sorted(MEMBERS[category]) == sorted(reference["indices"][category]), category
    assert sum(len(m) for m in MEMBERS.values()) == 207


def _reference_decisions(logits, probs_input=False):
    """Loop form of the mean-aggregation decision: per image, per category, mean member probability, argmax."""
    probs = logits if probs_input else softmax(logits.astype(np.float64), axis=1)
    return np.array([np.argmax([probs[i, list(MEMBERS[c])].mean() for c in CATEGORIES])
                     for i in range(len(probs))])


def test_decisions_and_accuracy():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (300, 1000)).astype(np.float32)
    expected = _reference_decisions(logits)
    decisions = np.asarray(sixteen_class_decisions(logits))
    np.testing.assert_array_equal(decisions, expected)
    labels = np.where(rng.random(300) < 0.5, expected, (expected + 1) % 16)
    assert top_k_accuracy(decisions, labels) == pytest.approx(np.mean(labels == expected))
    # Mean aggregation (not sum): one strong dog class must lose against a moderately strong single-member
    # category, because the dog mean is diluted over 109 members.
    probs = np.full((1, 1000), 1e-6, np.float32)
    probs[0, 200] = 0.5   # a dog class
    probs[0, 404] = 0.01  # airplane (1 member)
    assert CATEGORIES[int(sixteen_class_decisions(probs, probs_input=True)[0])] == "airplane"


def test_texture_category_from_file_name():
    assert texture_category("airplane/airplane1-bicycle2.png") == "bicycle"
    assert texture_category("XXX_dog10-bird2.png") == "bird"
    assert texture_category("knife4-elephant10.png") == "elephant"


def test_shape_bias_drops_same_category_images():
    shape = category_indices(["dog", "dog", "cat", "cat", "car", "bird"])
    texture = category_indices(["cat", "bird", "dog", "car", "car", "cat"])
    # decisions: shape, texture, shape, other, (same-category row: ignored even though it matches), texture
    decisions = category_indices(["dog", "bird", "cat", "oven", "car", "cat"])
    assert shape_bias(decisions, shape, texture) == pytest.approx(2 / 4)
    with pytest.raises(ValueError):
        category_indices(["zebra"])
