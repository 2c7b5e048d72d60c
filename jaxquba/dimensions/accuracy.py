"""Accuracy: top-1 and top-5 on the clean images of the reference dataset (QUBA's ``Acc`` is the top-1 on
ImageNet validation, as a fraction). The worked example of a dimension: one clean pass, two small heads."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from jaxquba.dimensions.base import Context, Dimension, Pass, Value, register
from jaxquba.engine import Outputs
from jaxquba.views.base import CLEAN

HEADS = ("top1", "top5")


def top_k_accuracy(top_k: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose label is among the predicted classes ``top_k`` (N, k) (or (N,) for top-1).
    Examples with an unknown label (-1) are left out."""
    known = labels >= 0
    hits = (top_k.reshape(len(labels), -1) == labels[:, None]).any(axis=1)
    return float(hits[known].mean())


def _passes(ctx: Context) -> tuple[Pass, ...]:
    return (Pass.of(ctx.dataset, [CLEAN], HEADS),)


def _reduce(outputs: Mapping[str, Outputs], ctx: Context) -> list[Value]:
    out = outputs[ctx.dataset]
    clean = out.views[CLEAN.name]
    return [Value("top1", top_k_accuracy(clean["top1"], out.labels), f"top1@{ctx.dataset}", column="Acc"),
            Value("top5", top_k_accuracy(clean["top5"], out.labels), f"top5@{ctx.dataset}")]


ACCURACY = register(Dimension("accuracy", "top-1 and top-5 accuracy on clean images", _passes, _reduce))
