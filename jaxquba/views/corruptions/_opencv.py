"""The OpenCV image operations behind the reference's water spatter, reproduced exactly on integer grey levels.

``imagecorruptions`` builds the water pattern with ``cv2.Canny``, ``cv2.distanceTransform`` (DIST_L2, 5x5 mask),
``cv2.blur``, ``cv2.equalizeHist`` and ``cv2.filter2D``. Each function here follows OpenCV's definition on one
(H, W) image: its border rules, integer and fixed-point arithmetic and saturating casts, so that the results are equal,
not just alike (tests compare each against cv2 on the same input). Sequential parts (Canny's hysteresis stack,
the two-pass chamfer scan) become fixed points of parallel local updates with the same result.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_TAN_22_5_Q15 = 13573  # OpenCV Canny's tan(22.5 deg) in Q15 fixed point
# DIST_L2 with a 5x5 mask: chamfer costs 1, 1.4 and 2.1969 for the straight, diagonal and knight steps, summed in
# float32 along the path as OpenCV does.
_CHAMFER_COSTS = (np.float32(1.0), np.float32(1.4), np.float32(2.1969))
_DISTANCE_UNIT = 2.0 ** -23  # every distance is 0 or >= 1 (the cheapest step), so a float32 multiple of 2^-23


def _shifted(image: jax.Array, dy: int, dx: int, fill) -> jax.Array:
    """out[h, w] = image[h + dy, w + dx], ``fill`` outside the image."""
    h, w = image.shape
    padded = jnp.pad(image, 2, constant_values=fill)
    return padded[2 + dy:2 + dy + h, 2 + dx:2 + dx + w]


def _neighbourhood(image: jax.Array, mode: str) -> list[list[jax.Array]]:
    """The 3x3 neighbours [i][j] = image[h + i - 1, w + j - 1] under a numpy.pad border mode."""
    h, w = image.shape
    padded = jnp.pad(image, 1, mode=mode)
    return [[padded[i:i + h, j:j + w] for j in range(3)] for i in range(3)]


def box_sum3(image: jax.Array) -> jax.Array:
    """Sum over each 3x3 window with BORDER_REFLECT_101 (cv2.blur's border), in the input's dtype."""
    return sum(v for row in _neighbourhood(image, "reflect") for v in row)


def canny(image: jax.Array, low: int, high: int) -> jax.Array:
    """``cv2.Canny(image, low, high)`` (aperture 3, L1 gradient) of an integer-valued (H, W) image: True on edges.

    3x3 Sobel with BORDER_REPLICATE, magnitude |dx| + |dy|, non-maximum suppression along the gradient quantised
    to 0/45/90/135 degrees with OpenCV's Q15 tangent test and its asymmetric ties (> on one side, >= on the other
    for the axis directions, > on both for the diagonals; magnitude 0 outside the image), then hysteresis: the
    pixels above ``low`` that survive suppression and are 8-connected to one above ``high``.
    """
    n = _neighbourhood(image.astype(jnp.int32), "edge")
    dx = (n[0][2] + 2 * n[1][2] + n[2][2]) - (n[0][0] + 2 * n[1][0] + n[2][0])
    dy = (n[2][0] + 2 * n[2][1] + n[2][2]) - (n[0][0] + 2 * n[0][1] + n[0][2])
    m = jnp.abs(dx) + jnp.abs(dy)

    def neighbour(dy_, dx_):
        return _shifted(m, dy_, dx_, 0)

    x_q = jnp.abs(dx)
    y_q15 = jnp.abs(dy) << 15
    tan22_x = x_q * _TAN_22_5_Q15
    horizontal = y_q15 < tan22_x
    vertical = ~horizontal & (y_q15 > tan22_x + (x_q << 16))
    same_sign = (dx ^ dy) >= 0
    diagonal_max = jnp.where(same_sign, (m > neighbour(-1, -1)) & (m > neighbour(1, 1)),
                             (m > neighbour(-1, 1)) & (m > neighbour(1, -1)))
    local_max = jnp.where(horizontal, (m > neighbour(0, -1)) & (m >= neighbour(0, 1)),
                          jnp.where(vertical, (m > neighbour(-1, 0)) & (m >= neighbour(1, 0)), diagonal_max))
    candidate = local_max & (m > low)

    def grow(state):
        edges, _ = state
        dilated = jax.lax.reduce_window(edges, False, jax.lax.bitwise_or, (3, 3), (1, 1), "SAME")
        grown = candidate & dilated
        return grown, jnp.any(grown != edges)

    edges, _ = jax.lax.while_loop(lambda state: state[1], grow, (candidate & (m > high), True))
    return edges


def chamfer_distance(zero: jax.Array, cap: float) -> jax.Array:
    """``cv2.distanceTransform(src, DIST_L2, 5)`` to the pixels where ``zero`` is True, truncated at ``cap``
    (``cv2.threshold(..., THRESH_TRUNC)``), float32.

    OpenCV's two raster passes compute the cheapest path of 5x5 chamfer steps inside the image. Here it is the
    fixed point of parallel min-plus updates over the 16 steps; every step costs at least 1, so paths up to ``cap``
    have at most ``cap`` steps and that many updates give the truncated distance. Both sum the float32 costs along a
    path; where two paths of equal real length round differently the two orders may pick values 1 ulp apart.
    """
    straight, diagonal, knight = _CHAMFER_COSTS
    far = np.float32(cap + 2 * knight)  # any value above the cap
    steps = ([((0, 1), straight), ((1, 0), straight), ((0, -1), straight), ((-1, 0), straight)]
             + [((a, b), diagonal) for a in (-1, 1) for b in (-1, 1)]
             + [((a, b), knight) for a, b in ((1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1))])

    h, w = zero.shape

    def relax(_, distance):
        padded = jnp.pad(distance, 2, constant_values=far)
        for (dy, dx), cost in steps:
            distance = jnp.minimum(distance, padded[2 + dy:2 + dy + h, 2 + dx:2 + dx + w] + cost)
        return distance

    start = jnp.where(zero, np.float32(0), far)
    return jnp.minimum(jax.lax.fori_loop(0, int(np.ceil(cap)), relax, start), np.float32(cap))


def blur3_to_uint8(distance: jax.Array) -> jax.Array:
    """``cv2.blur(distance, (3, 3)).astype(np.uint8)`` of float32 distances (0 or in [1, 28]), exactly.

    OpenCV sums the 9 values without rounding (in float64), scales by 1/9 and rounds to float32 before the
    truncating cast. Here the sum is an exact int32 in units of 2^-23; the floor of sum / 9 is raised by one where
    the quotient lies within half a float32 spacing below the next integer n (float32 rounds it up to n).
    """
    units = box_sum3((distance * np.float32(1 / _DISTANCE_UNIT)).astype(jnp.int32))  # 9 * 28 * 2^23 < 2^31
    per_level = 9 * int(1 / _DISTANCE_UNIT)
    level = units // per_level
    gap = (level + 1) * per_level - units  # (n - sum / 9) in units of 2^-23 / 9, n = level + 1
    # float32 spacing just below n is 2^(ceil(log2 n) - 24), that is 9 * 2^(ceil(log2 n) - 1) units.
    ceil_log2 = 32 - jax.lax.clz(level)  # bit length of n - 1
    return level + (4 * gap < (9 << ceil_log2))


def blur3_uint8(levels: jax.Array) -> jax.Array:
    """``cv2.blur`` on uint8 levels: the 3x3 mean rounded to the nearest level (never a tie: sums / 9)."""
    return (2 * box_sum3(levels) + 9) // 18


def equalize_hist(levels: jax.Array) -> jax.Array:
    """``cv2.equalizeHist`` on int32 levels 0-255: lut = round(cdf excluding the lowest used level * 255 / (pixels
    - its count)) in float32, as OpenCV; a one-level image is returned unchanged."""
    hist = jnp.zeros(256, jnp.int32).at[levels.ravel()].add(1)
    lowest_count = hist[jnp.argmax(hist > 0)]
    scale = jnp.float32(255.0) / jnp.maximum(levels.size - lowest_count, 1).astype(jnp.float32)
    lut = jnp.clip(jnp.round((jnp.cumsum(hist) - lowest_count).astype(jnp.float32) * scale), 0, 255)
    return jnp.where(lowest_count == levels.size, levels, lut.astype(jnp.int32)[levels])


def filter3_uint8(levels: jax.Array, kernel: np.ndarray) -> jax.Array:
    """``cv2.filter2D(levels, cv2.CV_8U, kernel)`` for an integer 3x3 kernel: correlation with BORDER_REFLECT_101,
    saturated to 0-255."""
    n = _neighbourhood(levels, "reflect")
    total = sum(int(kernel[i, j]) * n[i][j] for i in range(3) for j in range(3) if kernel[i, j])
    return jnp.clip(total, 0, 255)
