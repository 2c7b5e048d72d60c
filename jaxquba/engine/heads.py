"""Output heads: what comes back per example and per view of a pass, computed on the accelerator inside the step, so
only what a metric needs crosses to the host (an integer per image for top-1, not 1000 floats).

A head is a function of :class:`HeadInputs`, registered by name (:func:`register_head`); a :class:`ViewRequest` asks
for named heads of one view. Studies register their own heads (e.g. :mod:`jaxquba.dimensions.heads`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxquba.views.base import View


class HeadInputs(NamedTuple):
    """What a head sees: the model's outputs (what the protocol treats as logits), their softmax, the labels."""

    outputs: jax.Array  # float32 (B, C)
    probs: jax.Array  # float32 (B, C) softmax of outputs
    labels: jax.Array  # int32 (B,); -1 where unknown


def _label_prob(x: HeadInputs) -> jax.Array:
    known = x.labels >= 0
    picked = jnp.take_along_axis(x.probs, jnp.where(known, x.labels, 0)[:, None], axis=1)[:, 0]
    return jnp.where(known, picked, jnp.nan)


HEADS: dict[str, Callable[[HeadInputs], jax.Array]] = {
    "logits": lambda x: x.outputs,  # (B, C) raw model outputs
    "probs": lambda x: x.probs,  # (B, C)
    "top1": lambda x: jnp.argmax(x.outputs, axis=-1).astype(jnp.int32),  # (B,)
    "top5": lambda x: jax.lax.top_k(x.outputs, min(5, x.outputs.shape[-1]))[1].astype(jnp.int32),  # (B, 5)
    "confidence": lambda x: jnp.max(x.probs, axis=-1),  # (B,) top-1 probability
    "label_prob": _label_prob,  # (B,) probability of the true class; NaN where the label is unknown
    "finite": lambda x: jnp.all(jnp.isfinite(x.outputs), axis=-1),  # (B,) bool: no NaN/inf among the outputs
}


def register_head(name: str, fn: Callable[[HeadInputs], jax.Array]) -> None:
    """Adds a per-example output head (e.g. a 16-class decision); ``fn`` must keep the batch as leading axis."""
    if name in HEADS and HEADS[name] is not fn:
        raise ValueError(f"head {name!r} already registered")
    HEADS[name] = fn


@dataclasses.dataclass(frozen=True)
class ViewRequest:
    """One view of the data and the heads wanted from the model's outputs on it."""

    view: View
    heads: tuple[str, ...]

    def __post_init__(self):
        unknown = [h for h in self.heads if h not in HEADS]
        if unknown:
            raise ValueError(f"unknown heads {unknown}; known: {sorted(HEADS)}")
