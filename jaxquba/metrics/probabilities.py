"""Model outputs -> class probabilities, with the switch that decides whether softmax is applied."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def probabilities(outputs: jax.Array, probs_input: bool = False) -> jax.Array:
    """Class probabilities (N, C) from model outputs (N, C).

    ``probs_input=False``: outputs are logits and get one softmax. ``probs_input=True``: outputs are already
    probabilities (zero-shot VLM heads, Hiera) and are returned unchanged. The paper's pipeline always applies
    softmax, so probability-output models get it twice there (PROTOCOLS.md P1.2 QUIRK); the ``pixel`` protocol
    passes ``True`` for them so probabilities are used once.
    """
    outputs = jnp.asarray(outputs)
    return outputs if probs_input else jax.nn.softmax(outputs, axis=-1)
