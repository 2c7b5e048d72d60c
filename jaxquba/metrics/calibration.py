"""Calibration metrics of the QUBA study (PROTOCOLS.md P1.3): ECE, ACE and their geometric mean, Cal.Err.

Both errors reduce to per-bin sums: with n_b examples in bin b, sum of confidences S_b and sum of hits H_b,
Σ_b (n_b / n) |H_b / n_b − S_b / n_b| = Σ_b |H_b − S_b| / n, so neither needs a per-bin division.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.metrics.probabilities import probabilities
from jaxquba.metrics.robustness import gmean

NUM_BINS = 15


def torch_linspace_boundaries(n_bins: int) -> np.ndarray:
    """The n_bins + 1 float32 bin boundaries bit-identical to ``torch.linspace(0, 1, n_bins + 1)``.

    torch fills the first half as ``step * i`` and the second half as ``1 − step * (n − i)`` with one rounding
    (fused multiply-add); ``np.linspace`` rounds differently in the last bit for 5 of the 16 boundaries, which
    moves a confidence lying exactly on a boundary (such as 1 − 3/15 in float32) into the neighbouring bin.
    """
    step = np.float64(np.float32(1.0) / np.float32(n_bins))
    i = np.arange(n_bins + 1)
    first_half = i < (n_bins + 1) // 2
    return np.where(first_half, step * i, 1.0 - step * (n_bins - i)).astype(np.float32)


@functools.partial(jax.jit, static_argnames="n_bins")
def _ece_from_probabilities(probs: jax.Array, labels: jax.Array, n_bins: int) -> jax.Array:
    confidence = jnp.max(probs, axis=-1)
    hit = (jnp.argmax(probs, axis=-1) == labels).astype(confidence.dtype)
    boundaries = jnp.asarray(torch_linspace_boundaries(n_bins))
    # torchmetrics bins with bucketize(right=True) − 1: boundary[b] <= conf < boundary[b+1]; a confidence of
    # exactly 1.0 lands in an extra slot n_bins (with n_bins + 1 slots in all), a confidence of 0 in bin 0.
    bins = jnp.searchsorted(boundaries, confidence, side="right") - 1
    hit_sums = jax.ops.segment_sum(hit, bins, num_segments=n_bins + 1)
    confidence_sums = jax.ops.segment_sum(confidence, bins, num_segments=n_bins + 1)
    return jnp.sum(jnp.abs(hit_sums - confidence_sums)) / confidence.shape[0]


def expected_calibration_error(outputs: jax.Array, labels: jax.Array, probs_input: bool = False,
                               n_bins: int = NUM_BINS) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins, as torchmetrics ``MulticlassCalibrationError(norm='l1')``.

    Confidence = max probability, hit = argmax equals label; ECE = Σ_b (n_b/N) |acc_b − conf_b| over the bins
    [boundary_b, boundary_{b+1}) of ``torch.linspace(0, 1, n_bins + 1)``.
    """
    probs = probabilities(outputs, probs_input)
    return float(_ece_from_probabilities(probs, jnp.asarray(labels), n_bins))


def _adaptive_edge_ranks(n_positive: jax.Array, n_bins: int) -> jax.Array:
    """Ranks (n_bins − 1, C) of the upper bin edges among each class's sorted positive probabilities.

    The reference takes ``round(linspace(0, n, n_bins, endpoint=False))`` (numpy rounds half to even), clips to
    n − 1 and drops the first. k·n/n_bins is computed here in exact integers, so no float rounding can move an edge.
    """
    k = jnp.arange(1, n_bins)[:, None]
    quotient, remainder = jnp.divmod(k * n_positive[None, :], n_bins)
    round_up = (2 * remainder > n_bins) | ((2 * remainder == n_bins) & (quotient % 2 == 1))
    return jnp.minimum(quotient + round_up, n_positive[None, :] - 1)


@functools.partial(jax.jit, static_argnames="n_bins")
def _ace_from_probabilities(probs: jax.Array, labels: jax.Array, n_bins: int) -> jax.Array:
    n_examples, n_classes = probs.shape
    n_positive = jnp.sum(probs > 0, axis=0)  # the reference keeps only p_j > threshold = 0 for class j
    # One sort along the examples serves every class; zeros sort first, so class j's positive values start at
    # rank first_positive[j].
    sorted_probs = jnp.sort(probs, axis=0)
    first_positive = n_examples - n_positive
    ranks = first_positive[None, :] + _adaptive_edge_ranks(n_positive, n_bins)
    inner_edges = jnp.take_along_axis(sorted_probs, jnp.clip(ranks, 0, n_examples - 1), axis=0)
    upper_edges = jnp.concatenate([inner_edges, jnp.ones((1, n_classes), probs.dtype)], axis=0)  # (n_bins, C)

    # np.digitize(p, upper_edges) (right=False) puts p in bin #(edges <= p); p == 1.0 lands in slot n_bins. In
    # sorted order bin b therefore starts at the first rank whose value is >= upper_edges[b − 1].
    def bin_starts(column, edges):
        return jnp.searchsorted(column, edges, side="left")

    starts = jax.vmap(bin_starts, in_axes=(1, 1), out_axes=1)(sorted_probs, upper_edges)  # (n_bins, C)
    bounds = jnp.concatenate([first_positive[None, :], starts, jnp.full((1, n_classes), n_examples)], axis=0)
    # Bin sums as differences of a float32 running sum: values ascend, so the partial sums (and their rounding)
    # stay small across the many low-probability bins, and the error enters ACE divided by n_j, not by n_b.
    cumulative = jnp.concatenate([jnp.zeros((1, n_classes), probs.dtype), jnp.cumsum(sorted_probs, axis=0)])
    probability_sums = jnp.diff(jnp.take_along_axis(cumulative, bounds, axis=0), axis=0)  # (n_bins + 1, C)

    # Hits (y = j) only occur at the true class: bin each example's true-class probability against its edges.
    p_true = jnp.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
    true_bin = jnp.sum(p_true[:, None] >= upper_edges[:, labels].T, axis=1)
    hit_sums = jnp.zeros((n_bins + 1, n_classes), probs.dtype).at[true_bin, labels].add(
        (p_true > 0).astype(probs.dtype))

    errors = jnp.sum(jnp.abs(hit_sums - probability_sums), axis=0)
    per_class = jnp.where(n_positive > 0, errors / jnp.maximum(n_positive, 1), 0.0)
    return jnp.mean(per_class)


def adaptive_calibration_error(outputs: jax.Array, labels: jax.Array, probs_input: bool = False,
                               n_bins: int = NUM_BINS) -> float:
    """Class-conditional adaptive calibration error (ACE), as P1.3 restates Google's GeneralCalibrationError.

    For every class j: keep the examples with p_j > 0, form ``n_bins`` equal-mass bins of p_j (upper edges at
    ranks round(k·n/n_bins), last edge 1.0), and add Σ_b (n_b/n) |mean(1[y=j])_b − mean(p_j)_b|; ACE is the mean
    over all C classes (a class with no positive probability contributes 0). One sort of the (N, C) matrix
    along N does the work for all classes at once.
    """
    probs = probabilities(outputs, probs_input)
    return float(_ace_from_probabilities(probs, jnp.asarray(labels), n_bins))


def calibration_error(ace: float, ece: float) -> float:
    """Cal.Err = gmean(ACE, ECE) = sqrt(ACE · ECE)."""
    return gmean([ace, ece])
