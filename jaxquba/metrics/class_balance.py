"""Class balance (P1.3): how evenly a model's accuracy and confidence spread over the classes.

Classes without any example are left out of both stds (the reference's confidence term does the same; on the
full ImageNet validation set every class has 50 examples, so this only matters for subsets).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.metrics.probabilities import probabilities


def per_class_recall(outputs: jax.Array, labels: jax.Array) -> np.ndarray:
    """Recall of each class that has examples: diagonal / row sum of the confusion matrix (NaN where empty)."""
    labels = np.asarray(labels)
    num_classes = np.shape(outputs)[-1]
    hits = np.asarray(jnp.argmax(jnp.asarray(outputs), axis=-1)) == labels
    counts = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels, weights=hits, minlength=num_classes)
    return np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)


def prediction_balance(outputs: jax.Array, labels: jax.Array) -> float:
    """fair_pred = 1 − std of per-class recall, with Bessel's correction (ddof=1, as ``torch.std``)."""
    recall = per_class_recall(outputs, labels)
    return float(1.0 - np.std(recall[~np.isnan(recall)], ddof=1))


def confidence_balance(outputs: jax.Array, labels: jax.Array, probs_input: bool = False) -> float:
    """fair_conf = 1 − mean over classes of the population std (ddof=0, as ``np.std``) of the true-class
    probability over that class's examples."""
    probs = probabilities(outputs, probs_input)
    labels = np.asarray(labels)
    p_true = np.asarray(jnp.take_along_axis(probs, jnp.asarray(labels)[:, None], axis=-1)[:, 0], np.float64)
    num_classes = probs.shape[-1]
    counts = np.bincount(labels, minlength=num_classes)
    present = counts > 0
    means = np.bincount(labels, weights=p_true, minlength=num_classes) / np.maximum(counts, 1)
    # Two-pass variance (deviations from each class mean), as np.std computes it.
    squares = np.bincount(labels, weights=(p_true - means[labels]) ** 2, minlength=num_classes)
    stds = np.sqrt(squares[present] / counts[present])
    return float(1.0 - np.mean(stds))


def class_balance(outputs: jax.Array, labels: jax.Array, probs_input: bool = False) -> float:
    """Class Balance = sqrt(fair_pred · fair_conf)."""
    return float(np.sqrt(prediction_balance(outputs, labels) * confidence_balance(outputs, labels, probs_input)))
