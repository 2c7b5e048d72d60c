"""Top-1 correctness and accuracy."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def top1_correct(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example bool: argmax of the outputs (N, C) equals the label (N,).

    Argmax is the same for logits and for their softmax, so no ``probs_input`` switch is needed.
    """
    return jnp.argmax(jnp.asarray(outputs), axis=-1) == jnp.asarray(labels)


def accuracy(outputs: jax.Array, labels: jax.Array) -> float:
    """Top-1 accuracy as a fraction in [0, 1]."""
    return float(jnp.mean(top1_correct(outputs, labels)))
