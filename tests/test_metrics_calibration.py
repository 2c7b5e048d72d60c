"""ECE against torchmetrics and ACE against a loop-form numpy reference written here from PROTOCOLS.md P1.3."""

import numpy as np
import pytest

from jaxquba.metrics.calibration import (adaptive_calibration_error, calibration_error,
                                         expected_calibration_error, torch_linspace_boundaries)

NUM_CLASSES = 1000


@pytest.fixture(scope="module")
def torch(timm_module):
    """torch, after the timm fixture made torchvision (which torchmetrics imports) importable."""
    import torch
    return torch


@pytest.fixture(scope="module")
def torchmetrics(timm_module):
    import torchmetrics.classification
    return torchmetrics


def _logits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classifier-like logits: about 70% of rows favour the label, with a spread of confidences; a few rows are
    so peaked that float32 softmax gives exactly 1.0 and exact zeros (the p > 0 filter and the extra top bin)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, n)
    logits = rng.normal(0, 1, (n, NUM_CLASSES)) * rng.uniform(0.5, 3, (n, 1))
    favoured = np.where(rng.random(n) < 0.7, labels, rng.integers(0, NUM_CLASSES, n))
    logits[np.arange(n), favoured] += rng.uniform(0, 12, n)
    peaked = rng.choice(n, n // 50, replace=False)
    logits[peaked, favoured[peaked]] += 200.0
    return logits.astype(np.float32), labels


def _torchmetrics_ece(torchmetrics, preds: np.ndarray, labels: np.ndarray) -> float:
    import torch
    metric = torchmetrics.classification.MulticlassCalibrationError(num_classes=NUM_CLASSES, n_bins=15, norm="l1")
    metric.update(torch.from_numpy(preds), torch.from_numpy(labels))
    return metric.compute().item()


def _ace_reference(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """P1.3 in loop form: per class, equal-mass bins of p_j > 0, digitize right-open, weighted |acc − conf|."""
    total = 0.0
    for j in range(probs.shape[1]):
        p = probs[:, j]
        y = (labels == j).astype(np.float64)
        keep = p > 0
        p, y = p[keep].astype(np.float64), y[keep]
        n = p.size
        if n == 0:
            continue
        ranks = np.minimum(np.round(np.linspace(0, n, n_bins, endpoint=False)).astype(int), n - 1)
        upper_edges = np.concatenate([np.sort(p)[ranks][1:], [1.0]])
        bins = np.digitize(p, upper_edges)
        for b in np.unique(bins):
            in_bin = bins == b
            total += in_bin.sum() / n * abs(y[in_bin].mean() - p[in_bin].mean())
    return total / probs.shape[1]


@pytest.fixture(scope="module")
def data(torch):
    logits, labels = _logits(5_000)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert (probs == 0).any() and (probs.max(1) == 1.0).any()  # the edge cases the data is meant to contain
    return logits, labels, probs


def test_boundaries_bit_identical_to_torch_linspace(torch):
    for n_bins in (10, 15, 20):
        expected = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32).numpy()
        np.testing.assert_array_equal(torch_linspace_boundaries(n_bins).view(np.int32), expected.view(np.int32))


def test_ece_matches_torchmetrics_on_probabilities_and_logits(data, torchmetrics):
    logits, labels, probs = data
    reference = _torchmetrics_ece(torchmetrics, probs, labels)
    # 1e-6: both sum the same float32 confidences per bin; the ECE is O(1e-2), so float32 summation order
    # differences stay ~1e-8, and any binning difference would move it by >= 1/N = 1e-4.
    assert abs(expected_calibration_error(probs, labels, probs_input=True) - reference) < 1e-6
    # torchmetrics applies softmax itself to inputs outside [0, 1]; ours does the same with probs_input=False.
    assert abs(expected_calibration_error(logits, labels) - _torchmetrics_ece(torchmetrics, logits, labels)) < 1e-6
    print(f"ECE {reference:.6f}, |diff| {abs(expected_calibration_error(probs, labels, True) - reference):.2e}")


def test_ece_confidences_on_bin_boundaries(torchmetrics):
    """Confidences exactly on each float32 boundary (and 0 and 1) must land in torchmetrics' bins."""
    boundaries = torch_linspace_boundaries(15)
    rng = np.random.default_rng(1)
    confidences = np.repeat(boundaries, 7)
    n = confidences.size
    probs = rng.uniform(0, 1, (n, NUM_CLASSES)).astype(np.float32) * confidences[:, None]
    top = rng.integers(0, NUM_CLASSES, n)
    probs[np.arange(n), top] = confidences
    probs[confidences == 0] = 0.0
    labels = np.where(rng.random(n) < 0.5, top, (top + 1) % NUM_CLASSES)
    reference = _torchmetrics_ece(torchmetrics, probs, labels)
    assert abs(expected_calibration_error(probs, labels, probs_input=True) - reference) < 1e-6


def test_ace_matches_loop_reference(data):
    _, labels, probs = data
    reference = _ace_reference(probs, labels)
    ours = adaptive_calibration_error(probs, labels, probs_input=True)
    # 1e-6 absolute on a value of O(1e-4): ours sums float32 probabilities per bin, the reference in float64;
    # each bin sum has a relative error ~1e-6, far below 1e-6 absolute after the per-class averaging, while one
    # example in the wrong bin would change a class's error by ~1/n_j and the ACE by ~1e-6 or more.
    assert abs(ours - reference) < 1e-6, (ours, reference)
    print(f"ACE {reference:.7f}, |diff| {abs(ours - reference):.2e}")


def test_ace_with_ties_empty_classes_and_few_examples():
    """Tied probabilities (several examples on one edge), classes with fewer examples than bins, all-zero columns."""
    rng = np.random.default_rng(2)
    n, c = 40, 12
    probs = rng.choice(np.float32([0.0, 0.05, 0.1, 0.25, 0.5, 1.0]), (n, c))
    probs[:, 3] = 0.0
    probs[:5, 7] = 0.3
    probs[5:, 7] = 0.0
    labels = rng.integers(0, c, n)
    assert abs(adaptive_calibration_error(probs, labels, probs_input=True) - _ace_reference(probs, labels)) < 1e-6


def test_probs_input_switch(data):
    logits, labels, probs = (x[:1000] for x in data)
    assert adaptive_calibration_error(logits, labels) == pytest.approx(
        adaptive_calibration_error(probs, labels, probs_input=True), abs=1e-7)
    # The quba_paper quirk: probabilities fed as logits get a second softmax, which flattens them.
    double = expected_calibration_error(probs, labels, probs_input=False)
    assert abs(double - expected_calibration_error(probs, labels, probs_input=True)) > 1e-2


def test_calibration_error_is_geometric_mean():
    assert calibration_error(4e-4, 1e-2) == pytest.approx(2e-3)
    assert calibration_error(0.0, 1e-2) == 0.0
