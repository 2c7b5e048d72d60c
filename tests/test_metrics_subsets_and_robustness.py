"""ImageNet-R/A 200-class masks against hendrycks' lists; masked accuracy; gmean and the ratio aggregates."""

import json

import numpy as np
import pytest
from scipy.stats import mstats

from jaxquba.errors import UserError
from jaxquba.metrics.robustness import (CORRUPTIONS, adversarial_robustness, corruption_robustness, gmean,
                                        ood_robustness)
from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.metrics.subsets import subset_indices, subset_mask, subset_predictions


def test_subsets_equal_hendrycks_lists(shared_data):
    reference = json.loads((shared_data / "imagenet_metadata" / "hendrycks_subsets.json").read_text())
    for name in ("imagenet_r", "imagenet_a"):
        assert subset_indices(name).tolist() == sorted(reference[f"{name}_indices_in_1k"])
        assert subset_mask(name).sum() == 200
    with pytest.raises(UserError, match="imagenet_r"):
        subset_indices("imagenet-r")


def test_subset_accuracy_ignores_outside_classes():
    indices = subset_indices("imagenet_r")
    outside = np.setdiff1d(np.arange(1000), indices)
    logits = np.zeros((3, 1000), np.float32)
    logits[:, outside[0]] = 10.0           # the 1000-way argmax is outside the subset ...
    logits[0, indices[5]] = 5.0            # ... so the 200-way argmax decides
    logits[1, indices[7]] = 5.0
    logits[2, indices[9]] = 5.0
    labels = np.array([indices[5], indices[7], indices[0]])
    assert top_k_accuracy(subset_predictions(logits, indices), labels) == pytest.approx(2 / 3)


def test_gmean_matches_scipy_mstats():
    for values in ([0.5, 0.8], [1.2, 0.9, 0.7, 0.3, 1.05], [0.0, 0.5]):
        with np.errstate(divide="ignore"):
            assert gmean(values) == pytest.approx(float(mstats.gmean(values)), abs=1e-12)
    with pytest.raises(ValueError):
        gmean([-0.1, 0.5])


def test_ratio_aggregates():
    assert adversarial_robustness(0.02, 0.08, 0.8) == pytest.approx(np.sqrt(0.025 * 0.1))
    accs = {c: {s: 0.8 - 0.1 * s for s in range(1, 6)} for c in CORRUPTIONS}
    assert corruption_robustness(accs, 0.8) == pytest.approx(np.mean([(0.8 - 0.1 * s) / 0.8 for s in range(1, 6)]))
    with pytest.raises(ValueError, match="missing"):
        corruption_robustness({c: accs[c] for c in CORRUPTIONS[:14]}, 0.8)
    ood = dict(edge=0.3, silhouette=0.4, sketch=0.5, stylized=0.2, imagenet_r=0.35)
    assert ood_robustness(ood, 0.7) == pytest.approx(float(mstats.gmean([v / 0.7 for v in ood.values()])))
