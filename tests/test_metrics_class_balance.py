"""Class balance against a reference written here from P1.3: torch.std (ddof=1) over per-class recall from a
torchmetrics confusion matrix, and per-class np.std (ddof=0) of the true-class probability in a Python loop."""

import numpy as np
import pytest

from jaxquba.metrics.class_balance import class_balance, confidence_balance, prediction_balance


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    num_classes, per_class = 100, 20
    labels = np.repeat(np.arange(num_classes), per_class)
    rng.shuffle(labels)
    logits = rng.normal(0, 1, (labels.size, num_classes)) * 2
    logits[np.arange(labels.size), labels] += rng.uniform(0, 4, num_classes)[labels] * rng.random(labels.size)
    return logits.astype(np.float32), labels


def test_matches_reference_with_stated_ddof(data, timm_module):
    import torch
    import torchmetrics.classification

    logits, labels = data
    t_logits, t_labels = torch.from_numpy(logits), torch.from_numpy(labels)
    confusion = torchmetrics.classification.MulticlassConfusionMatrix(num_classes=logits.shape[1])
    confusion.update(t_logits.argmax(1), t_labels)
    matrix = confusion.compute()
    recall = torch.diagonal(matrix) / matrix.sum(1)
    fair_pred = 1 - torch.std(recall).item()  # torch.std: Bessel-corrected (ddof=1)
    probs = torch.softmax(t_logits, 1).numpy()
    stds = [np.std(probs[labels == c, c]) for c in range(logits.shape[1])]  # np.std: ddof=0
    fair_conf = 1 - sum(stds) / len(stds)

    # 1e-6: float32 probabilities, std differences at the 1e-7 level; the two ddof choices differ by far more
    # (checked below), so a wrong ddof cannot pass.
    assert prediction_balance(logits, labels) == pytest.approx(fair_pred, abs=1e-6)
    assert confidence_balance(logits, labels) == pytest.approx(fair_conf, abs=1e-6)
    assert class_balance(logits, labels) == pytest.approx(np.sqrt(fair_pred * fair_conf), abs=1e-6)
    assert abs((1 - np.std(recall.numpy(), ddof=0)) - fair_pred) > 1e-4
    conf_ddof1 = 1 - np.mean([np.std(probs[labels == c, c], ddof=1) for c in range(logits.shape[1])])
    assert abs(conf_ddof1 - fair_conf) > 1e-4


def test_classes_without_examples_are_left_out(data):
    logits, labels = data
    keep = labels >= 10  # classes 0..9 have no example left
    recall_std = np.std([np.mean(logits[labels == c].argmax(1) == c) for c in range(10, 100)], ddof=1)
    assert prediction_balance(logits[keep], labels[keep]) == pytest.approx(1 - recall_std, abs=1e-6)
    assert np.isfinite(confidence_balance(logits[keep], labels[keep]))


def test_probs_input_double_softmax_flattens_confidence(data):
    logits, labels = data
    probs = np.asarray(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), np.float32)
    assert confidence_balance(probs, labels, probs_input=True) == pytest.approx(
        confidence_balance(logits, labels), abs=1e-6)
    # Softmax of probabilities is nearly uniform, so the within-class std collapses and fair_conf -> 1 (P1.2).
    assert confidence_balance(probs, labels, probs_input=False) > 0.999
