"""Ratio-based robustness aggregates of P1.3 (adversarial, corruption, out-of-distribution).

Each robustness dimension divides an accuracy under a shift by the clean ImageNet accuracy of the same model, then
averages the ratios: geometric mean for adversarial and OOD robustness, arithmetic mean for corruptions.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

# The 15 ImageNet-C corruptions the QUBA study uses (the 4 "extra" ones are not part of C-Rob), and 5 severities.
CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
SEVERITIES = (1, 2, 3, 4, 5)
OOD_DATASETS = ("edge", "silhouette", "sketch", "stylized", "imagenet_r")


def gmean(values: Iterable[float]) -> float:
    """Geometric mean with ``scipy.stats.mstats.gmean`` semantics: a zero component makes the result 0.

    Negative values have no geometric mean; they raise ValueError (ratios of accuracies are never negative).
    """
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0 or np.any(values < 0) or np.any(np.isnan(values)):
        raise ValueError(f"gmean needs a non-empty list of non-negative numbers, got {values.tolist()}")
    if np.any(values == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(values))))


def adversarial_robustness(acc_pgd: float, acc_fgsm: float, acc_clean: float) -> float:
    """gmean(acc_PGD / acc_clean, acc_FGSM / acc_clean)."""
    return gmean([acc_pgd / acc_clean, acc_fgsm / acc_clean])


def corruption_robustness(acc_by_corruption: Mapping[str, Mapping[int, float]], acc_clean: float) -> float:
    """C-Rob = mean over the 15 corruptions of the mean over 5 severities of acc(c, s) / acc_clean.

    ``acc_by_corruption[c][s]`` must hold every corruption in :data:`CORRUPTIONS` and every severity 1..5, so a
    partial evaluation cannot pass silently as the full metric.
    """
    missing = [f"{c}/{s}" for c in CORRUPTIONS for s in SEVERITIES if s not in acc_by_corruption.get(c, {})]
    if missing:
        raise ValueError(f"corruption accuracies missing for {len(missing)} (corruption/severity): {missing[:5]}...")
    per_corruption = [np.mean([acc_by_corruption[c][s] / acc_clean for s in SEVERITIES]) for c in CORRUPTIONS]
    return float(np.mean(per_corruption))


def ood_robustness(acc_by_dataset: Mapping[str, float], acc_clean: float) -> float:
    """gmean over the five OOD data sets (:data:`OOD_DATASETS`) of acc_d / acc_clean; can exceed 1."""
    missing = [d for d in OOD_DATASETS if d not in acc_by_dataset]
    if missing:
        raise ValueError(f"OOD accuracies missing for {missing}")
    return gmean([acc_by_dataset[d] / acc_clean for d in OOD_DATASETS])
