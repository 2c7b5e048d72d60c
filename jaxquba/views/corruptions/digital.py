"""Digital corruptions: brightness, contrast, saturate, elastic transform, pixelate and JPEG, with the reference's
constants. Pixelate and JPEG go through Pillow in the reference, so they work on uint8 levels here too."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.views.corruptions import _ops
from jaxquba.views.corruptions.jpeg import jpeg_roundtrip

BRIGHTNESS = (.1, .2, .3, .4, .5)
CONTRAST = (0.4, .3, .2, .1, .05)
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))  # saturation scale, shift
ELASTIC_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
JPEG_QUALITY = (25, 18, 15, 10, 7)
_PIL_PRECISION_BITS = 22  # Pillow's fixed-point resampling precision for 8-bit images (32 - 8 - 2)


def brightness(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Adds c to the HSV value channel (skimage colour conversions)."""
    hsv = _ops.rgb_to_hsv(x / 255.0)
    hsv = hsv.at[..., 2].set(jnp.clip(hsv[..., 2] + BRIGHTNESS[severity - 1], 0, 1))
    return jnp.clip(_ops.hsv_to_rgb(hsv), 0, 1) * 255


def contrast(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Scales each channel's deviation from its mean by c."""
    x = x / 255.0
    means = x.mean((0, 1), keepdims=True)
    return jnp.clip((x - means) * CONTRAST[severity - 1] + means, 0, 1) * 255


def saturate(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """HSV saturation s -> clip(s * a + b)."""
    scale, shift = SATURATE[severity - 1]
    hsv = _ops.rgb_to_hsv(x / 255.0)
    hsv = hsv.at[..., 1].set(jnp.clip(hsv[..., 1] * scale + shift, 0, 1))
    return jnp.clip(_ops.hsv_to_rgb(hsv), 0, 1) * 255


def elastic_max_shift(h: int) -> float:
    """The half-range of the reference's uniform displacement draws (0.005 x height, for both axes)."""
    return h * 0.005


def elastic_with_field(x: jax.Array, severity: int, raw_dx: jax.Array, raw_dy: jax.Array) -> jax.Array:
    """Elastic warp from two uniform fields in [-m, m] (m = :func:`elastic_max_shift`) of the image's size.

    As the reference: each field is smoothed by a Gaussian of sigma 1% of the size ('reflect' border, truncate 3),
    scaled by alpha, and the image is resampled at (y + dy, x + dx) bilinearly with mirrored borders.
    """
    h, w = x.shape[:2]
    alpha = ELASTIC_ALPHA[severity - 1]
    sigma = (h * 0.01, w * 0.01)
    dx = _ops.gaussian_filter(raw_dx, sigma, mode="reflect", truncate=3) * alpha
    dy = _ops.gaussian_filter(raw_dy, sigma, mode="reflect", truncate=3) * alpha
    rows, cols = jnp.meshgrid(jnp.arange(h, dtype=x.dtype), jnp.arange(w, dtype=x.dtype), indexing="ij")
    warped = _ops.bilinear_reflect(x / 255.0, rows + dy, cols + dx)
    return jnp.clip(warped, 0, 1) * 255


def elastic_transform(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    h, w = x.shape[:2]
    m = elastic_max_shift(h)
    kx, ky = jax.random.split(key)
    return elastic_with_field(x, severity, jax.random.uniform(kx, (h, w), x.dtype, -m, m),
                              jax.random.uniform(ky, (h, w), x.dtype, -m, m))


@functools.cache
def pil_box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's BOX resampling weights along one axis as int32 fixed point (``precompute_coeffs`` and
    ``normalize_coeffs_8bpc``): an (n_out, n_in) matrix."""
    scale = n_in / n_out
    support = 0.5 * max(scale, 1.0)
    matrix = np.zeros((n_out, n_in), np.float64)
    for out in range(n_out):
        centre = (out + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), n_in)
        taps = np.arange(lo, hi)
        t = (taps - centre + 0.5) / max(scale, 1.0)
        weights = ((t > -0.5) & (t <= 0.5)).astype(np.float64)
        matrix[out, taps] = weights / weights.sum()
    fixed = np.where(matrix < 0, -0.5, 0.5) + matrix * (1 << _PIL_PRECISION_BITS)
    return np.trunc(fixed).astype(np.int32)


@functools.cache
def pil_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's NEAREST resize source index: floor((o + 0.5) * n_in / n_out)."""
    return np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int32), n_in - 1)


@functools.cache
def pil_box_runs(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pil_box_matrix` as runs: each output's first input, run length and its one fixed-point weight.

    BOX weights are 1 inside the box and 0 outside, normalised, so every row of the matrix is one contiguous run of
    equal weights; the weighted sum is that weight times the run's plain sum, an exact integer (checked here).
    """
    matrix = pil_box_matrix(n_in, n_out)
    first = np.argmax(matrix != 0, axis=1)
    length = n_in - np.argmax(matrix[:, ::-1] != 0, axis=1) - first
    weight = matrix[np.arange(n_out), first]
    for out in range(n_out):
        row = matrix[out]
        assert np.all(row[first[out]:first[out] + length[out]] == weight[out]) and row.sum() == weight[out] * length[
            out], "not a BOX run"
    return first, length, weight


def _pil_box_pass(levels: jax.Array, n_out: int, axis: int, keep: np.ndarray | None = None) -> jax.Array:
    """One Pillow BOX pass along ``axis`` (outputs ``keep``, default all): weight x run sum, rounded and saturated
    like Pillow, in int32 (weight <= 2^21 for runs of 2 or more, sums <= 255 x run, so no overflow).

    Each run sum is read from a sliding-window sum of its length (one per distinct length, 2-5 here) at the run's
    first input: O(n) adds and one gather, where the dense matrix product did O(n^2) multiply-adds (twice, to keep
    float32 exact), most of them by zero.
    """
    first, length, weight = pil_box_runs(levels.shape[axis], n_out)
    if keep is not None:
        first, length, weight = first[keep], length[keep], weight[keep]
    assert int(weight.max()) * 255 * int(length.max()) < 2 ** 31, "int32 overflow"
    sums, offset = [], {}
    for run in sorted(set(length.tolist())):
        window = [1] * levels.ndim
        window[axis] = run
        offset[run] = sum(s.shape[axis] for s in sums)
        sums.append(jax.lax.reduce_window(levels, 0, jax.lax.add, tuple(window), (1,) * levels.ndim, "VALID"))
    index = np.array([offset[run] for run in length]) + first
    total = jnp.take(jnp.concatenate(sums, axis) if len(sums) > 1 else sums[0], index, axis=axis)
    shape = [1] * levels.ndim
    shape[axis] = len(index)
    total = total * jnp.asarray(weight, jnp.int32).reshape(shape)
    return jnp.clip((total + (1 << (_PIL_PRECISION_BITS - 1))) >> _PIL_PRECISION_BITS, 0, 255)


def pixelate(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Pillow BOX downscale by c (width first, 8-bit fixed point as Pillow), then NEAREST upscale back.

    The height pass computes only the rows the NEAREST upscale reads, in its order (each small row once per copy;
    selecting rows commutes with the per-row arithmetic), so the upscale is one column gather.
    """
    h, w = x.shape[:2]
    small_h, small_w = int(h * PIXELATE[severity - 1]), int(w * PIXELATE[severity - 1])
    levels = jnp.round(x).astype(jnp.int32)
    small = _pil_box_pass(levels, small_w, 1)
    rows = _pil_box_pass(small, small_h, 0, keep=pil_nearest_index(small_h, h))
    return rows[:, pil_nearest_index(small_w, w)].astype(x.dtype)


def jpeg_compression(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Pillow JPEG save at quality c and decode (see :mod:`jaxquba.views.corruptions.jpeg`)."""
    return jpeg_roundtrip(x, JPEG_QUALITY[severity - 1]).astype(x.dtype)
