"""Blur corruptions: defocus, glass, motion, zoom and gaussian blur, with the reference's constants.

One image in the 0-255 float scale in, the same out. ``motion_blur_at_angle`` and ``glass_shuffle`` expose the random
parts so that tests can feed the reference's draws (the motion angle) or check what the shuffle preserves.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.views.corruptions import _ops

DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))  # disk radius, anti-alias sigma
MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # radius, sigma
ZOOM_FACTORS = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))
GAUSSIAN_SIGMA = (1, 2, 3, 4, 6)
GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, max shift, iterations
# Per-axis std (pixels) of how far the reference's sequential swap loop carries a pixel, per severity: measured by
# running that loop on a 224 px index image (tests re-measure it against the reference and check the match).
GLASS_REFERENCE_DISPLACEMENT_STD = (1.78, 1.85, 3.19, 3.64, 4.71)


@functools.cache
def disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk: a normalised binary disk smoothed by OpenCV's GaussianBlur (3 or 5 taps,
    BORDER_REFLECT_101), computed in numpy."""
    half = 8 if radius <= 8 else radius
    taps_n = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    yy, xx = np.meshgrid(grid, grid)
    disk = (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    offsets = np.arange(taps_n) - taps_n // 2
    taps = np.exp(-(offsets ** 2) / (2 * alias_blur ** 2))
    taps = taps / taps.sum()
    smoothing = _ops.correlation_matrix(disk.shape[0], tuple(taps), "reflect101")
    return (smoothing @ disk @ smoothing.T).astype(np.float32)


def defocus_blur(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Correlation with an anti-aliased disk (OpenCV filter2D, BORDER_REFLECT_101)."""
    kernel = disk_kernel(*DEFOCUS[severity - 1])
    r = kernel.shape[0] // 2
    h, w = x.shape[:2]
    padded = jnp.pad(x / 255.0, ((r, r), (r, r), (0, 0)), mode="reflect")
    # Correlation as an FFT product (a 21x21 direct convolution is ~20x slower on CPU); the kernel is symmetric.
    size = (h + 2 * r, w + 2 * r)
    spectrum = jnp.fft.rfft2(padded, s=size, axes=(0, 1)) * jnp.fft.rfft2(jnp.asarray(kernel), s=size)[..., None]
    out = jnp.fft.irfft2(spectrum, s=size, axes=(0, 1))[2 * r:, 2 * r:]
    return jnp.clip(out, 0, 1) * 255


def motion_blur_at_angle(image: jax.Array, radius: int, sigma: float, angle: jax.Array) -> jax.Array:
    """The reference's ``_motion_blur``: a one-sided Gaussian-weighted sum of edge-clamped shifts along ``angle``
    (degrees). Shifts stop (without renormalising) once one would leave the image, as there."""
    width = 2 * radius + 1
    steps = np.arange(width)
    weights = np.exp(-steps ** 2 / (2 * sigma ** 2))
    weights = jnp.asarray(weights / weights.sum(), image.dtype)
    rad = jnp.deg2rad(angle)
    dy = -jnp.ceil(steps * jnp.sin(rad) - 0.5).astype(jnp.int32)
    dx = -jnp.ceil(steps * jnp.cos(rad) - 0.5).astype(jnp.int32)
    inside = (jnp.abs(dy) < image.shape[0]) & (jnp.abs(dx) < image.shape[1])
    weights = weights * jnp.cumprod(inside)

    def add_shift(i, total):
        return total + weights[i] * _ops.shift_clamped(image, dy[i], dx[i])

    return jax.lax.fori_loop(0, width, add_shift, jnp.zeros_like(image))


def motion_blur_with_angle(x: jax.Array, severity: int, angle: jax.Array) -> jax.Array:
    """Motion blur of the 0-255 image along ``angle`` degrees."""
    return jnp.clip(motion_blur_at_angle(x, *MOTION[severity - 1], angle), 0, 255)


def motion_blur(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Motion blur in a direction drawn uniformly from [-45, 45) degrees."""
    return motion_blur_with_angle(x, severity, jax.random.uniform(key, (), minval=-45.0, maxval=45.0))


def zoom_blur(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """Mean of the image and its centre zooms (linear interpolation, scipy ``zoom(order=1)``) by each factor."""
    x = x / 255.0
    total = x
    for factor in ZOOM_FACTORS[severity - 1]:
        total = total + _ops.clipped_zoom(x, float(factor))
    return jnp.clip(total / (len(ZOOM_FACTORS[severity - 1]) + 1), 0, 1) * 255


def gaussian_blur(x: jax.Array, severity: int, key: jax.Array | None = None) -> jax.Array:
    """skimage ``gaussian`` with sigma c, 'nearest' border, truncate 4."""
    return jnp.clip(_ops.gaussian_filter(x / 255.0, GAUSSIAN_SIGMA[severity - 1]), 0, 1) * 255


def glass_shuffle(image: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """A parallel stand-in for the reference's sequential local pixel swaps: a random local permutation.

    The reference visits every interior pixel in reverse raster order and swaps it with a neighbour at an offset
    drawn from [-d, d-1]^2; because later visits move already-moved pixels again, each pixel performs a random walk.
    That loop (about 0.8 s per 224 px image) cannot run in parallel. Here each pixel walks by disjoint swaps
    instead: rounds alternate between the two axes; a round pairs every row (or column) with its neighbour in a
    tiling whose phase is drawn per column (or row) and round (so no pixel is in two pairs and each step is +1 or -1 at random), and
    swaps each pair with probability q. The number of rounds and q are set so that the per-axis displacement
    variance equals the reference's measured one (``GLASS_REFERENCE_DISPLACEMENT_STD``).

    So it is not equal to the reference pixel for pixel. It preserves the pixel multiset exactly (a permutation),
    leaves row 0 and column 0 in place like the reference, and matches the spread of the displacements; its
    displacements are near-Gaussian with lighter tails (the reference's sequential chains occasionally carry a
    pixel 20-40 px) and bounded by the number of rounds.
    """
    h, w = image.shape[:2]
    variance = GLASS_REFERENCE_DISPLACEMENT_STD[severity - 1] ** 2
    rounds = int(np.ceil(2 * variance))  # per axis, so that q = variance / rounds is about 1/2
    swap_probability = variance / rounds

    def swap_along_axis0(img, step_key):
        phase_key, coin_key = jax.random.split(step_key)
        n = img.shape[0]
        pos = jnp.arange(n)[:, None]
        phase = jax.random.bernoulli(phase_key, 0.5, (1, img.shape[1])).astype(jnp.int32)  # per column
        leader = (pos + phase) % 2 == 0
        partner = jnp.where(leader, pos + 1, pos - 1)
        valid = (pos >= 1) & (partner >= 1) & (partner < n) & (jnp.arange(img.shape[1]) >= 1)  # keep edge 0
        coin = jax.random.bernoulli(coin_key, swap_probability, img.shape[:2])
        leader_row = jnp.clip(jnp.where(leader, pos, partner), 0, n - 1)
        swap = valid & jnp.take_along_axis(coin, leader_row, 0)
        source = jnp.where(swap, jnp.clip(partner, 0, n - 1), pos)
        source = source.reshape(source.shape + (1,) * (img.ndim - 2))
        return jnp.take_along_axis(img, jnp.broadcast_to(source, img.shape), 0)

    def one_round(img, round_key):
        rows_key, cols_key = jax.random.split(round_key)
        img = swap_along_axis0(img, rows_key)
        img = jnp.swapaxes(swap_along_axis0(jnp.swapaxes(img, 0, 1), cols_key), 0, 1)
        return img, None

    shuffled, _ = jax.lax.scan(one_round, image, jax.random.split(key, rounds))
    return shuffled


def glass_blur(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Gaussian blur, truncation to uint8 levels (as the reference), local pixel shuffle, Gaussian blur again.

    The shuffle is the parallel approximation :func:`glass_shuffle` (read its docstring for how it differs).
    """
    sigma = GLASS[severity - 1][0]
    blurred = jnp.floor(_ops.gaussian_filter(x / 255.0, sigma) * 255)
    shuffled = glass_shuffle(blurred, severity, key)
    return jnp.clip(_ops.gaussian_filter(shuffled / 255.0, sigma), 0, 1) * 255
