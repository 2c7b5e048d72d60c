"""Accuracy: the one function every study uses for top-1, top-k and any head whose predictions are class indices
(16-class decisions, ImageNet-9 or 200-class subsets)."""

from __future__ import annotations

import numpy as np

from jaxquba.errors import UserError


def top_k_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose label is among their predicted classes: ``predictions`` (N,) for top-1 or (N, k)
    for top-k. Examples with an unknown label (-1) are left out; UserError where no example has a known label."""
    predictions, labels = np.asarray(predictions), np.asarray(labels).reshape(-1)
    known = labels >= 0
    if not known.any():
        raise UserError("accuracy is undefined: no example has a known label")
    hits = (predictions.reshape(len(labels), -1) == labels[:, None]).any(axis=1)
    return float(hits[known].mean())
