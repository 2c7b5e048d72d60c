"""Accuracy: top-1 and top-5 on the clean images of the reference dataset (QUBA's ``Acc`` is the top-1 on
ImageNet validation, as a fraction). The worked example of a dimension: one clean pass, two small heads."""

from __future__ import annotations

from typing import Mapping

from jaxquba import value_spec
from jaxquba.dimensions.base import Context, Dimension, Pass, Value, register
from jaxquba.engine import Outputs
from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.views.base import CLEAN

HEADS = ("top1", "top5")


def view_accuracy(outputs: Outputs, view: str = CLEAN.name, head: str = "top1") -> float:
    """Accuracy of the ``head`` predictions of ``view`` against the labels (a fraction; every study's top-1)."""
    return top_k_accuracy(outputs.views[view][head], outputs.labels)


def _passes(ctx: Context) -> tuple[Pass, ...]:
    return (Pass.of(ctx.dataset, [CLEAN], HEADS),)


def _reduce(outputs: Mapping[str, Outputs], ctx: Context) -> list[Value]:
    out = outputs[ctx.dataset]
    return [Value("top1", view_accuracy(out), value_spec.render("top1", ctx.dataset), column="Acc"),
            Value("top5", view_accuracy(out, head="top5"), value_spec.render("top5", ctx.dataset))]


ACCURACY = register(Dimension("accuracy", "top-1 and top-5 accuracy on clean images", _passes, _reduce))
