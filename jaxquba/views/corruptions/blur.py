"""Blur corruptions: defocus, glass, motion, zoom and gaussian blur, with the reference's constants.

One image in the 0-255 float scale in, the same out. ``motion_blur_with_angle`` and ``glass_blur_with_offsets`` take
the random draws explicitly, so that tests can feed the reference's own draws.
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
    """Correlation with an anti-aliased disk (OpenCV filter2D, BORDER_REFLECT_101), truncated as the reference's is.

    At severities 1-3 the disk lies inside the kernel's grid and its sum is 1 in exact arithmetic, but the
    reference's float32 kernel (OpenCV's GaussianBlur) sums to a few units in the 8th decimal *below* 1, so its
    float64 result is just under every value that is exactly an integer level, which then truncates one level
    lower (white becomes 254). float32 cannot resolve that, so:

    * severity 1 (anti-aliasing sigma 0.1 leaves only taps of ~1e-22 off the disk) is an average of the n disk
      pixels with one float32 weight just under 1/n: computed exactly in integers, an integer mean S/n gives
      S/n - 1 and any other gives floor(S/n);
    * severities 2-3: where every pixel under the kernel has one level L the output is L - 1, elsewhere it is capped
      at 254 (no pixel exceeds 255 x the kernel's sum);
    * severities 4-5: the disk reaches the grid's border, the reflected taps add mass (sum 1.011-1.013), and the
      plain correlation is used.
    """
    kernel = disk_kernel(*DEFOCUS[severity - 1])
    r = kernel.shape[0] // 2
    h, w = x.shape[:2]
    padded = jnp.pad(x, ((r, r), (r, r), (0, 0)), mode="reflect")
    kernel_sum = float(kernel.astype(np.float64).sum())
    support = kernel > 1e-12  # smaller taps move no result across a level
    weights = kernel[support]
    if abs(kernel_sum - 1) < 1e-6 and np.all(weights == weights[0]):
        n = len(weights)
        assert n * float(weights[0]) < 1, "the reference's weight is expected just under 1/n"
        # integer levels: exact in float32 up to 2^24
        total = functools.reduce(jnp.add, [padded[dy:dy + h, dx:dx + w] for dy, dx in np.argwhere(support)])
        mean_floor = jnp.floor(total / n)
        return jnp.where((total == mean_floor * n) & (total > 0), mean_floor - 1, mean_floor)
    # Correlation as an FFT product (a 21x21 direct convolution is ~20x slower on CPU); the kernel is symmetric. Its
    # spectrum is a constant, computed once on the host (in float64) rather than by an FFT in every call.
    size = (h + 2 * r, w + 2 * r)
    kernel_spectrum = np.fft.rfft2(kernel.astype(np.float64), s=size).astype(np.complex64)[..., None]
    spectrum = jnp.fft.rfft2(padded / 255.0, s=size, axes=(0, 1)) * kernel_spectrum
    out = jnp.clip(jnp.fft.irfft2(spectrum, s=size, axes=(0, 1))[2 * r:, 2 * r:], 0, 1) * 255
    if abs(kernel_sum - 1) > 1e-6:
        return out
    own = padded[r:r + h, r:r + w]
    return jnp.where(_ops.support_uniform(padded, support, h, w), jnp.maximum(own - 1, 0), jnp.minimum(out, 254.0))


def motion_blur_at_angle(image: jax.Array, radius: int, sigma: float, angle: jax.Array) -> jax.Array:
    """The reference's ``_motion_blur``: a one-sided Gaussian-weighted sum of edge-clamped shifts along ``angle``
    (degrees). Shifts stop (without renormalising) once one would leave the image, as there.

    Where every shifted sample has one level L, the output is the reference's own float64 sum for L (a table,
    :func:`motion_uniform_levels`): it lands just below or above L, and the later uint8 truncation turns the former
    into L - 1 (at severities 1-2 the reference keeps white at 255, which a float32 sum of the normalised weights
    would make 254). Where the samples differ from the pixel's own level L only under taps too small for float32
    to see next to L (the last taps are ~1e-8), the weighted deviation from L, summed on its own, decides the
    side: above L gives L, below gives L - 1, as the reference's float64 sum does."""
    width = 2 * radius + 1
    steps = np.arange(width)
    weights = np.exp(-steps ** 2 / (2 * sigma ** 2))
    weights = jnp.asarray(weights / weights.sum(), image.dtype)
    rad = jnp.deg2rad(angle)
    dy = -jnp.ceil(steps * jnp.sin(rad) - 0.5).astype(jnp.int32)
    dx = -jnp.ceil(steps * jnp.cos(rad) - 0.5).astype(jnp.int32)
    inside = jnp.cumprod((jnp.abs(dy) < image.shape[0]) & (jnp.abs(dx) < image.shape[1])).astype(bool)
    weights = weights * inside
    # Each edge-clamped shift is a window of the edge-padded image (|dy|, |dx| <= width - 1): a slice, where two
    # gathers of clamped indices cost ~3x more on CPU. "All samples equal" is one boolean carry instead of a running
    # min and max: fewer image-sized arrays per step, and the loop is memory-bound.
    pad = width - 1
    padded = jnp.pad(image, ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2), mode="edge")

    def add_shift(i, carry):
        total, deviation, differs = carry
        shifted = jax.lax.dynamic_slice(padded, (pad - dy[i], pad - dx[i]) + (0,) * (image.ndim - 2), image.shape)
        return (total + weights[i] * shifted, deviation + weights[i] * (shifted - image),
                differs | (inside[i] & (shifted != image)))

    zeros = jnp.zeros_like(image)
    total, deviation, differs = jax.lax.fori_loop(0, width, add_shift, (zeros, zeros, jnp.zeros(image.shape, bool)))
    levels = jnp.asarray(motion_uniform_levels(radius, sigma))[jnp.sum(inside) - 1]
    # 1e-3 levels: far above float32's error on the deviation alone, far below any deviation a sample under a
    # tap of 1e-3 or more produces; only meaningful when no tap was dropped (the weights then sum to 1)
    near_own_level = (jnp.abs(deviation) < 1e-3) & jnp.all(inside)
    near = jnp.where(deviation > 0, image, image - 1)
    out = jnp.where(near_own_level, near, total)
    return jnp.where(differs, out, levels[jnp.clip(image, 0, 255).astype(jnp.int32)])


@functools.cache
def motion_uniform_levels(radius: int, sigma: float) -> np.ndarray:
    """``[n - 1, L]``: the reference's uint8 level for a uniform level L blurred with its first n weights, by its
    own arithmetic (float64, normalised Gaussian weights, summed in order from zero)."""
    width = 2 * radius + 1
    steps = np.arange(width)
    kernel = np.exp(-steps ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    kernel = kernel / np.sum(kernel)
    levels = np.arange(256, dtype=np.float64)
    total, out = np.zeros(256), []
    for k in kernel:
        total = total + k * levels
        out.append(np.floor(np.clip(total, 0, 255)))
    return np.array(out, np.float32)


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
    """skimage ``gaussian`` with sigma c, 'nearest' border, truncate 4, on the uint8 level scale."""
    return _ops.gaussian_filter_levels(x, GAUSSIAN_SIGMA[severity - 1])


def glass_offsets(key: jax.Array, shape: tuple[int, int], severity: int) -> jax.Array:
    """The reference's draws for one image: per iteration and visited pixel (in its visiting order) an offset
    (dx, dy), each uniform on [-d, d - 1], d the severity's max shift. Shape (iterations, visited pixels, 2)."""
    _, max_shift, iterations = GLASS[severity - 1]
    visited = (shape[0] - 2 * max_shift) * (shape[1] - 2 * max_shift)
    return jax.random.randint(key, (iterations, visited, 2), -max_shift, max_shift)


def _copy_chain_sources(shape: tuple[int, int], max_shift: int, offsets: jax.Array) -> jax.Array:
    """For one pass of the reference's loop, the flat index (into the image before the pass) that each pixel holds
    after it.

    The reference visits the pixels (h, w), h from H - d down to d + 1 and w from W - d down to d + 1, and "swaps"
    pixel p with q = p + (dy, dx). On an (H, W, 3) array that tuple swap of two row views is a copy,
    ``x[p] = x[q]``, done in place. So after the pass, p holds the new value of q where q was visited before p
    (a visited pixel later in raster order), else q's old value. These links only go forward in raster order, so
    pointer jumping resolves every chain in O(log chain length) parallel gathers: exact, not an approximation.
    """
    h, w = shape
    d = max_shift
    grid = offsets.reshape(h - 2 * d, w - 2 * d, 2)[::-1, ::-1]  # visiting order is reverse raster order
    rows = jnp.arange(d + 1, h - d + 1)[:, None]
    cols = jnp.arange(d + 1, w - d + 1)[None, :]
    source_rows, source_cols = rows + grid[..., 1], cols + grid[..., 0]
    visited = jnp.zeros((h, w), bool).at[d + 1:h - d + 1, d + 1:w - d + 1].set(True)
    reads_new_value = visited[source_rows, source_cols] & (source_rows * w + source_cols > rows * w + cols)
    pointer = jnp.arange(h * w).reshape(h, w).at[d + 1:h - d + 1, d + 1:w - d + 1].set(source_rows * w + source_cols)
    linked = jnp.zeros((h, w), bool).at[d + 1:h - d + 1, d + 1:w - d + 1].set(reads_new_value)

    def jump(state):
        pointer, linked = state
        return jnp.where(linked, pointer[pointer], pointer), linked & linked[pointer]

    pointer, _ = jax.lax.while_loop(lambda state: state[1].any(), jump, (pointer.ravel(), linked.ravel()))
    return pointer


def glass_copy_chain(image: jax.Array, severity: int, offsets: jax.Array) -> jax.Array:
    """The reference's local pixel "shuffle" of an (H, W, C) image, exactly, given its offsets
    (:func:`glass_offsets` layout): all passes composed into one gather."""
    h, w = image.shape[:2]
    max_shift = GLASS[severity - 1][1]
    sources = jnp.arange(h * w)
    for one_pass in offsets:  # image_k = image_{k-1}[s_k], so image_n = image_0[s_1[s_2[...s_n]]]
        sources = sources[_copy_chain_sources((h, w), max_shift, one_pass)]
    return image.reshape(h * w, *image.shape[2:])[sources].reshape(image.shape)


def glass_blur_with_offsets(x: jax.Array, severity: int, offsets: jax.Array) -> jax.Array:
    """Gaussian blur, truncation to uint8 levels, the reference's pixel copy chain, Gaussian blur again."""
    sigma = GLASS[severity - 1][0]
    blurred = jnp.floor(_ops.gaussian_filter_levels(x, sigma))
    shuffled = glass_copy_chain(blurred, severity, offsets)
    return _ops.gaussian_filter_levels(shuffled, sigma)


def glass_blur(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Glass blur with offsets drawn as the reference draws them (see :func:`glass_blur_with_offsets`)."""
    return glass_blur_with_offsets(x, severity, glass_offsets(key, x.shape[:2], severity))
