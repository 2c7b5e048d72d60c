"""Building blocks shared by the corruptions: separable filters as matrices, resampling, HSV.

Everything works on one image in the 0-255 float scale of the reference (``imagecorruptions``), with (H, W) or
(H, W, C) arrays; the batch is added by ``vmap`` in :mod:`jaxquba.views.corruptions`. Filters whose kernel and
size are known at trace time are built as dense (n, n) matrices in numpy, so a separable blur with any border rule
is two matmuls: exact, size-agnostic, and fast on accelerators.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

# numpy.pad's names for the border rules of scipy.ndimage ("nearest", "reflect") and OpenCV (BORDER_REFLECT_101).
_PAD_MODE = {"nearest": "edge", "reflect": "symmetric", "reflect101": "reflect"}


def border_index(index: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Maps out-of-range integer indices into [0, n) by a border rule (static numpy)."""
    if mode == "nearest":
        return np.clip(index, 0, n - 1)
    assert np.all(np.abs(index) < 2 * n), "kernel larger than the image"
    return np.pad(np.arange(n), n, mode=_PAD_MODE[mode])[index + n]


@functools.cache
def correlation_matrix(n: int, taps: tuple[float, ...], mode: str) -> np.ndarray:
    """(n, n) matrix M with (M @ v)[i] = sum_k taps[k] * v[border(i + k - r)]: a centred 1-D correlation."""
    radius = len(taps) // 2
    matrix = np.zeros((n, n), np.float64)
    rows = np.arange(n)
    for k, weight in enumerate(taps):
        np.add.at(matrix, (rows, border_index(rows + k - radius, n, mode)), weight)
    return matrix.astype(np.float32)


def gaussian_taps(sigma: float, truncate: float = 4.0) -> tuple[float, ...]:
    """scipy.ndimage.gaussian_filter1d's kernel: radius int(truncate * sigma + 0.5), normalised to sum 1.

    The taps are rounded to multiples of 2^-24 whose sum is exactly 1 (the remainder goes to the centre tap): then
    every partial sum is exact in float32, so a constant region, above all a saturated one, keeps its exact value
    and its uint8 level after the reference's truncation (a plain float32 kernel gives 0.99999994, level 254).
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    units = np.round(weights / weights.sum() * 2.0 ** 24)
    units[radius] += 2.0 ** 24 - units.sum()
    return tuple(units / 2.0 ** 24)


def separable(image: jnp.ndarray, rows: np.ndarray, cols: np.ndarray) -> jnp.ndarray:
    """rows @ image @ cols.T on the two spatial axes of an (H, W) or (H, W, C) image."""
    out = jnp.einsum("ij,jk...->ik...", jnp.asarray(rows), image)
    return jnp.einsum("lk,ik...->il...", jnp.asarray(cols), out)


def gaussian_filter(image: jnp.ndarray, sigma: float | tuple[float, float], mode: str = "nearest",
                    truncate: float = 4.0) -> jnp.ndarray:
    """skimage.filters.gaussian(image, sigma, mode, truncate, channel_axis=-1): spatial axes only.

    ``sigma`` is one value or one per spatial axis.
    """
    h, w = image.shape[:2]
    sigma_h, sigma_w = (sigma, sigma) if np.isscalar(sigma) else sigma
    return separable(image, correlation_matrix(h, gaussian_taps(sigma_h, truncate), mode),
                     correlation_matrix(w, gaussian_taps(sigma_w, truncate), mode))


def gaussian_filter_levels(image255: jnp.ndarray, sigma: float, truncate: float = 4.0) -> jnp.ndarray:
    """:func:`gaussian_filter` ('nearest' border) of an image of uint8 levels, on the 0-255 scale, clipped, with the
    reference's level wherever the result is exactly a level.

    The reference blurs L / 255 in float64, so on a uniform neighbourhood of level L its result is L / 255 up to
    a few float64 roundings, which fall below or above depending on L and sigma; its uint8 truncation then gives L
    or L - 1 (with sigma 1.1 every white area becomes 254). float32 cannot reproduce those roundings, so the level
    of a uniform neighbourhood is looked up in :func:`reference_uniform_levels`; elsewhere the result is a generic
    real and float32 truncates it like the reference.
    """
    h, w = image255.shape[:2]
    out = jnp.clip(gaussian_filter(image255 / 255.0, sigma, truncate=truncate), 0, 1) * 255
    radius = int(truncate * float(sigma) + 0.5)
    padded = jnp.pad(image255, ((radius, radius), (radius, radius)) + ((0, 0),) * (image255.ndim - 2), mode="edge")
    levels = jnp.asarray(reference_uniform_levels(float(sigma), truncate))
    own = padded[radius:radius + h, radius:radius + w]
    return jnp.where(box_uniform(padded, 2 * radius + 1, h, w), levels[jnp.clip(own, 0, 255).astype(jnp.int32)], out)


@functools.cache
def reference_uniform_levels(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The reference's uint8 output level for a uniform image of each level 0..255 under skimage's ``gaussian``
    (scipy.ndimage in float64, the reference's own arithmetic), as float32."""
    from scipy import ndimage
    radius = int(truncate * sigma + 0.5)
    flat = np.repeat(np.arange(256, dtype=np.float64)[:, None, None] / 255.0, 2 * radius + 1, 1)
    flat = np.repeat(flat, 2 * radius + 1, 2)
    blurred = ndimage.gaussian_filter(flat, (0, sigma, sigma), mode="nearest", truncate=truncate)
    return np.floor(np.clip(blurred[:, radius, radius], 0, 1) * 255).astype(np.float32)


def _or_with_shifted(flags: jnp.ndarray, k: int, axis: int) -> jnp.ndarray:
    """``flags[i] | flags[i + k]`` along ``axis`` (one shorter by ``k``), as a two-tap reduce-window.

    Written as two slices, XLA:CPU fuses each doubling step into every consumer and recomputes the chain there:
    defocus blur's support test reads one doubled array per disk row, and so rebuilt it once per row. A
    reduce-window is computed once and stored. Severity 3, batch 8, best of 30 calls, both forms in one process
    (three processes): defocus blur 11.4-11.9 -> 7.7-8.9 ms, Gaussian blur 9.9-10.6 -> 9.3-10.1 ms, glass blur
    42.6-45.2 -> 39.8-42.8 ms; the outputs are bit-identical.
    """
    window = [1] * flags.ndim
    window[axis] = 2
    dilation = [1] * flags.ndim
    dilation[axis] = k
    return jax.lax.reduce_window(flags, False, jax.lax.bitwise_or, window, (1,) * flags.ndim, "VALID",
                                 window_dilation=dilation)


def _any_in_windows(flags: jnp.ndarray, size: int, axis: int, n: int) -> jnp.ndarray:
    """Whether any of ``flags`` is set in the window [i, i + size) along ``axis``, for i < n: from power-of-two
    windows, the last two overlapping. ``size`` 0 gives all False."""
    def part(a, start, length):
        return jax.lax.slice_in_dim(a, start, start + length, axis=axis)

    if size == 0:
        return jnp.zeros_like(part(flags, 0, n))
    k = 1
    while 2 * k <= size:
        flags = _or_with_shifted(flags, k, axis)
        k *= 2
    return part(flags, 0, n) | part(flags, size - k, n)


def box_uniform(padded: jnp.ndarray, size: int, h: int, w: int) -> jnp.ndarray:
    """Whether ``padded`` has one value over the size x size square at every output pixel (h x w).

    A square is uniform when no row of it changes value between neighbours and its first column does not either.
    Testing those changes (booleans, one window per axis) costs about a third of a min and a max over the square
    (two float arrays): it is the exactness test of Gaussian blur and glass blur, and was most of their CPU time.
    """
    across = _any_in_windows(padded[:, 1:] != padded[:, :-1], size - 1, 1, w)
    rows = _any_in_windows(across, size, 0, h)
    column = _any_in_windows(padded[1:, :w] != padded[:-1, :w], size - 1, 0, h)
    return ~(rows | column)


def support_uniform(padded: jnp.ndarray, support: np.ndarray, h: int, w: int) -> jnp.ndarray:
    """Whether ``padded`` has one value over a centred support (one contiguous run per row, every run through the
    centre column, as a disk's) at every output pixel: no run changes value between neighbours, and the centre
    column does not across the support's rows (see :func:`box_uniform`)."""
    centre = support.shape[1] // 2
    across = padded[:, 1:] != padded[:, :-1]  # across[y, x]: padded[y, x] and padded[y, x + 1] differ
    powers = {1: across}  # window length -> any change among the pairs starting in [x, x + length)
    changed = None
    rows = [dy for dy in range(support.shape[0]) if support[dy].any()]
    for dy in rows:
        cols = np.flatnonzero(support[dy])
        pairs = len(cols) - 1
        assert cols[-1] - cols[0] == pairs and cols[0] <= centre <= cols[-1], "one run per row through the centre"
        if not pairs:
            continue
        while 2 * max(powers) <= pairs:
            k = max(powers)
            powers[2 * k] = _or_with_shifted(powers[k], k, 1)
        k = 1 << (pairs.bit_length() - 1)
        first, second = cols[0], cols[0] + pairs - k
        row = powers[k][dy:dy + h, first:first + w] | powers[k][dy:dy + h, second:second + w]
        changed = row if changed is None else changed | row
    span = rows[-1] - rows[0]
    column = padded[rows[0]:rows[-1] + h, centre:centre + w]
    down = _any_in_windows(column[1:] != column[:-1], span, 0, h)
    return ~(down if changed is None else changed | down)


@functools.cache
def linear_zoom_matrix(n_in: int, n_out: int) -> np.ndarray:
    """scipy.ndimage.zoom(order=1) along one axis: output o samples input o * (n_in - 1) / (n_out - 1)."""
    coords = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    lower = np.clip(np.floor(coords).astype(int), 0, n_in - 1)
    upper = np.minimum(lower + 1, n_in - 1)
    frac = coords - lower
    matrix = np.zeros((n_out, n_in), np.float64)
    np.add.at(matrix, (np.arange(n_out), lower), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), upper), frac)
    return matrix


def clipped_zoom_shape(n: int, factor: float) -> tuple[int, int, int]:
    """(crop start, crop size, zoomed size) of the reference's clipped_zoom along an axis of length n."""
    crop = int(math.ceil(n / float(factor)))
    return (n - crop) // 2, crop, int(round(crop * factor))


@functools.cache
def clipped_zoom_matrix(n: int, factor: float, keep: int | None = None) -> np.ndarray:
    """(keep, n) matrix of the reference's clipped_zoom: centre crop of ceil(n / factor), linear zoom, first rows.

    ``keep`` defaults to n (the reference crops the zoomed layer back to the image from its top-left corner).
    """
    start, crop, zoomed = clipped_zoom_shape(n, factor)
    matrix = np.zeros((zoomed, n), np.float64)
    matrix[:, start:start + crop] = linear_zoom_matrix(crop, zoomed)
    return matrix[: n if keep is None else keep].astype(np.float32)


def bilinear_reflect(image: jnp.ndarray, ys: jnp.ndarray, xs: jnp.ndarray) -> jnp.ndarray:
    """scipy ``map_coordinates(order=1, mode='reflect')`` on the spatial axes of (H, W, C) at (H, W) points.

    'reflect' mirrors about the outer pixel edges (half-sample symmetric); within half a pixel of the border the
    two interpolation neighbours are the same pixel, which clamping the indices reproduces.
    """
    h, w = image.shape[:2]

    def fold(coord, n):
        t = jnp.mod(coord + 0.5, 2 * n)
        return jnp.where(t >= n, 2 * n - t, t) - 0.5

    ys, xs = fold(ys, h), fold(xs, w)
    y0, x0 = jnp.floor(ys), jnp.floor(xs)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
    yi = [jnp.clip(y0, 0, h - 1), jnp.clip(y0 + 1, 0, h - 1)]
    xi = [jnp.clip(x0, 0, w - 1), jnp.clip(x0 + 1, 0, w - 1)]
    top = image[yi[0], xi[0]] * (1 - fx) + image[yi[0], xi[1]] * fx
    bottom = image[yi[1], xi[0]] * (1 - fx) + image[yi[1], xi[1]] * fx
    return top * (1 - fy) + bottom * fy


def resample_rows(image: jnp.ndarray, matrix: np.ndarray) -> jnp.ndarray:
    """matrix @ image along axis 0 for a static matrix with at most 2 non-zeros per row (linear interpolation),
    as two gathers instead of a dense matmul."""
    lower = np.argmax(matrix != 0, axis=1)
    upper = np.minimum(lower + 1, matrix.shape[1] - 1)
    w_lower = matrix[np.arange(len(matrix)), lower]
    w_upper = np.where(upper > lower, matrix[np.arange(len(matrix)), upper], 0.0)
    assert np.allclose(w_lower + w_upper, matrix.sum(1)), "not a 2-tap interpolation matrix"
    shape = (-1,) + (1,) * (image.ndim - 1)
    return (image[lower] * jnp.asarray(w_lower, image.dtype).reshape(shape)
            + image[upper] * jnp.asarray(w_upper, image.dtype).reshape(shape))


def clipped_zoom(image: jnp.ndarray, factor: float, keep: tuple[int, int] | None = None) -> jnp.ndarray:
    """The reference's clipped_zoom on the spatial axes (see :func:`clipped_zoom_matrix`)."""
    h, w = image.shape[:2]
    keep_h, keep_w = keep or (None, None)
    out = resample_rows(image, clipped_zoom_matrix(h, factor, keep_h))
    return jnp.swapaxes(resample_rows(jnp.swapaxes(out, 0, 1), clipped_zoom_matrix(w, factor, keep_w)), 0, 1)


def rgb_to_hsv(rgb: jnp.ndarray) -> jnp.ndarray:
    """skimage.color.rgb2hsv for values in [0, 1] (where channels tie, blue beats green beats red, as there)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(-1)
    delta = value - rgb.min(-1)
    safe_delta = jnp.where(delta == 0, 1.0, delta)
    saturation = jnp.where(delta == 0, 0.0, delta / jnp.where(value == 0, 1.0, value))
    hue = jnp.where(b == value, 4.0 + (r - g) / safe_delta,
                    jnp.where(g == value, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta))
    hue = jnp.where(delta == 0, 0.0, jnp.mod(hue / 6.0, 1.0))
    return jnp.stack([hue, saturation, value], -1)


def hsv_to_rgb(hsv: jnp.ndarray) -> jnp.ndarray:
    """skimage.color.hsv2rgb."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = jnp.floor(h * 6.0)
    f = h * 6.0 - sector
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = jnp.stack([jnp.stack(c, -1) for c in
                         [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]])
    index = jnp.mod(sector.astype(jnp.int32), 6)
    return jnp.take_along_axis(choices, index[None, ..., None], axis=0)[0]


def luma(rgb: jnp.ndarray) -> jnp.ndarray:
    """OpenCV's RGB2GRAY weights (0.299, 0.587, 0.114), keeping a channel axis."""
    return (rgb @ jnp.asarray([0.299, 0.587, 0.114], rgb.dtype))[..., None]
