"""Pillow's ``Image.resize`` of 8-bit RGB images (bilinear, bicubic, nearest), bit-exact on the device.

Why: the published ImageNet-C protocol reads 224 px JPEGs through each model's own eval transform, i.e. a Pillow
resize of the decoded file (torchvision's ``Resize`` on a PIL image) and a centre crop. To reproduce that on the
device, the resize must give Pillow's uint8 values, not a close float resize.

What Pillow 7-13 does (``libImaging/Resample.c``), reproduced here:

* per output position ``x``: ``center = (x + 0.5) * scale`` with ``scale = in / out``; the filter is stretched by
  ``max(scale, 1)`` (antialiasing when shrinking); taps ``xmin = int(center - support + 0.5)`` (at least 0) up to
  ``int(center + support + 0.5)`` (at most ``in``), each weighted ``filter((i - center + 0.5) / max(scale, 1))``,
  the weights divided by their sum (float64);
* for 8-bit images the weights become integers ``int(w * 2^22 +- 0.5)`` (rounded half away from zero), each output
  is ``(2^21 + sum(value * weight)) >> 22`` clipped to 0..255 -- integer arithmetic throughout;
* horizontal pass first (its uint8 result is the vertical pass's input), each pass skipped where that side keeps
  its size; ``NEAREST`` takes the integer part of the source coordinate ``0.5 * scale + x * scale``, accumulated
  in float64 step by step as Pillow's affine nearest transform does (its rounding picks the other neighbour
  where ``(x + 0.5) * scale`` is an integer).

:class:`Resample1d` holds one axis's integer weights as a banded matrix stored by taps (output position x tap
number): the product with the image is written as a sum over the few taps of int32 products of gathered rows,
which is exact on every backend (an int32 matmul is not lowered exactly everywhere, and float32 cannot hold the
sums: 8-bit values x 22-bit weights). The weights are computed once on the host in numpy, for a fixed input and
output size, and only the output positions kept (e.g. those of a centre crop) are computed.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

PRECISION_BITS = 32 - 8 - 2  # Pillow's 8-bit fixed point


def _bilinear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5  # Pillow's (and Keys') bicubic convolution constant
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


FILTERS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0)}  # name -> (filter, support)
INTERPOLATIONS = (*FILTERS, "nearest")


@dataclasses.dataclass(frozen=True)
class Resample1d:
    """One axis of a Pillow resize from ``in_size`` to the kept output positions: ``index[j, t]`` is the input
    position of tap ``t`` of output ``j``, ``weight[j, t]`` its int32 fixed-point weight (0 for unused taps);
    ``identity``: Pillow skips this pass (same size)."""

    index: np.ndarray
    weight: np.ndarray
    identity: bool


def resample_1d(in_size: int, out_size: int, interpolation: str, keep: range | None = None) -> Resample1d:
    """Pillow's coefficients for one axis (``keep``: the output positions wanted, default all)."""
    keep = range(out_size) if keep is None else keep
    identity = in_size == out_size
    out = np.asarray(keep, np.int64)
    scale = in_size / out_size
    if interpolation == "nearest":
        positions, coord = [], scale * 0.5
        for _ in range(out_size):  # Pillow accumulates the source coordinate in float64, step by step
            positions.append(min(int(coord), in_size - 1))
            coord += scale
        index = np.asarray(positions, np.int64)[out][:, None]
        return Resample1d(index, np.full_like(index, 1 << PRECISION_BITS), identity)
    if interpolation not in FILTERS:
        raise ValueError(f"Pillow resize: unsupported interpolation {interpolation!r} (known: {INTERPOLATIONS})")
    fn, support = FILTERS[interpolation]
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (out + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) truncates; the value is >= -0.5
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize)
    used = taps[None, :] < xmax[:, None]
    w = np.where(used, fn((taps[None, :] + xmin[:, None] - center[:, None] + 0.5) / filterscale), 0.0)
    total = w.sum(1, keepdims=True)
    w = np.where(total != 0, w / np.where(total != 0, total, 1), w)
    fixed = np.where(w < 0, np.trunc(-0.5 + w * (1 << PRECISION_BITS)), np.trunc(0.5 + w * (1 << PRECISION_BITS)))
    index = np.minimum(xmin[:, None] + taps[None, :], in_size - 1)  # unused taps point anywhere, with weight 0
    return Resample1d(index, np.where(used, fixed, 0).astype(np.int64), identity)


def _apply(image: jax.Array, axis: int, r: Resample1d) -> jax.Array:
    """One pass along ``axis`` of an int32 image: Pillow's rounding sum, clipped to uint8 levels (int32 out)."""
    acc = jnp.full(image.shape[:axis] + (r.index.shape[0],) + image.shape[axis + 1:], 1 << (PRECISION_BITS - 1),
                   jnp.int32)
    shape = [1] * image.ndim
    shape[axis] = -1
    for t in range(r.index.shape[1]):
        if not r.weight[:, t].any():
            continue
        weight = jnp.asarray(r.weight[:, t].astype(np.int32)).reshape(shape)
        acc = acc + jnp.take(image, jnp.asarray(r.index[:, t].astype(np.int32)), axis=axis) * weight
    return jnp.clip(acc >> PRECISION_BITS, 0, 255)


@dataclasses.dataclass(frozen=True)
class PillowResize:
    """Pillow's resize of (..., H, W, C) uint8-level images from ``in_hw`` to ``out_hw`` followed by the crop of
    rows ``rows`` and columns ``cols`` of the result (a centre crop; default all). int32 levels in and out."""

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    interpolation: str
    rows: range | None = None
    cols: range | None = None

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"Pillow resize: unsupported interpolation {self.interpolation!r} "
                             f"(known: {INTERPOLATIONS})")

    def __call__(self, image: jax.Array) -> jax.Array:
        (h, w), (out_h, out_w) = self.in_hw, self.out_hw
        if image.shape[-3:-1] != (h, w):
            raise ValueError(f"Pillow resize built for {h}x{w} inputs, got {image.shape}")
        rows = range(out_h) if self.rows is None else self.rows
        cols = range(out_w) if self.cols is None else self.cols
        horizontal = resample_1d(w, out_w, self.interpolation, cols)
        vertical = resample_1d(h, out_h, self.interpolation, rows)
        x = image.astype(jnp.int32)
        if self.interpolation == "nearest":  # one gather per axis, no arithmetic
            return jnp.take(jnp.take(x, jnp.asarray(vertical.index[:, 0]), axis=-3),
                            jnp.asarray(horizontal.index[:, 0]), axis=-2)
        x = x[..., cols.start:cols.stop, :] if horizontal.identity else _apply(x, x.ndim - 2, horizontal)
        return x[..., rows.start:rows.stop, :, :] if vertical.identity else _apply(x, x.ndim - 3, vertical)
