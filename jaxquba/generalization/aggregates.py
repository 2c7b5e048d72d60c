"""The study's four generalization aggregates (PROTOCOLS.md P2.2, ``code/plots.ipynb``), in percent.

ID = mean(ImageNet, ImageNet-v2, ReaL); Robustness = mean(ImageNet-A, ImageNet-C, ImageNet-C-bar);
Concepts = mean(Sketch, ImageNet-R, stylized 16-class); Adversarial = PGD-40 at epsilon 0.5/255.
Inputs and outputs are keyed by the study's column names (:mod:`jaxquba.generalization.table`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

AGGREGATES: dict[str, tuple[str, ...]] = {
    "ID": ("top1_acc/imagenet", "top1_acc/imagenet-v2", "top1_acc/imagenet-real"),
    "Robustness": ("top1_acc/imagenet-a", "top1_acc/imagenet-c", "top1_acc/imagenet-cbar"),
    "Concepts": ("top1_acc/imagenet-sketch", "top1_acc/imagenet-r", "top1_acc/stylized"),
    "Adversarial": ("top1_acc/PGD-40/low",),
}


def aggregates(values: Mapping[str, float]) -> dict[str, float]:
    """Each aggregate whose members are all present (NaN members make it NaN); the others are left out."""
    return {name: float(np.mean([values[m] for m in members]))
            for name, members in AGGREGATES.items() if all(m in values for m in members)}
