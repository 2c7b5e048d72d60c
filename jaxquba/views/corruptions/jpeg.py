"""Baseline JPEG encode + decode at a quality level, in JAX, as Pillow (libjpeg-turbo) does it with default settings.

Pillow's ``save(..., 'JPEG', quality=q)`` uses libjpeg's defaults: YCbCr with 4:2:0 chroma subsampling, the Annex K
quantisation tables scaled by quality (``jpeg_quality_scaling``, clamped to 1..255), the slow integer DCT, and on
decode "fancy" (triangular) chroma upsampling. Colour conversion, downsampling and upsampling are reproduced in exact
integer arithmetic; the DCT pair is a float DCT with libjpeg's rounding (coefficients round half away from zero,
samples half up), so a coefficient can differ from the integer DCT's by one step where it sits on a rounding boundary.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

LUMA_TABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)
CHROMA_TABLE = np.full((8, 8), 99)
CHROMA_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def quantization_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's ``jpeg_set_quality(quality, force_baseline=TRUE)``: (luma, chroma) tables in natural order."""
    quality = min(max(quality, 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((table * scale + 50) // 100, 1, 255) for table in (LUMA_TABLE, CHROMA_TABLE))


@functools.cache
def _block_dct_matrix() -> np.ndarray:
    """The orthonormal 8x8 2-D DCT-II as one (64, 64) matrix on row-major blocks: coefficients = D @ block."""
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    matrix = 0.5 * np.cos((2 * x + 1) * u * np.pi / 16)
    matrix[0] /= np.sqrt(2)
    return np.kron(matrix, matrix).astype(np.float32)


def _fix(value: float) -> int:
    return int(value * 65536 + 0.5)


def _to_ycbcr(rgb: jax.Array) -> jax.Array:
    """libjpeg's rgb_ycc_convert in 16-bit fixed point (int32 in, int32 out)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    offset = (128 << 16) + (1 << 15) - 1
    y = (_fix(0.299) * r + _fix(0.587) * g + _fix(0.114) * b + (1 << 15)) >> 16
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + _fix(0.5) * b + offset) >> 16
    cr = (_fix(0.5) * r - _fix(0.41869) * g - _fix(0.08131) * b + offset) >> 16
    return jnp.stack([y, cb, cr], -1)


def _to_rgb(ycc: jax.Array) -> jax.Array:
    """libjpeg's ycc_rgb_convert (fixed point, clamped to 0..255)."""
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128, ycc[..., 2] - 128
    half = 1 << 15
    r = y + ((_fix(1.402) * cr + half) >> 16)
    g = y + ((-_fix(0.34414) * cb - _fix(0.71414) * cr + half) >> 16)
    b = y + ((_fix(1.772) * cb + half) >> 16)
    return jnp.clip(jnp.stack([r, g, b], -1), 0, 255)


def _downsample(plane: jax.Array) -> jax.Array:
    """libjpeg's h2v2_downsample: 2x2 sums with a bias alternating 1, 2 along each output row."""
    h, w = plane.shape
    sums = plane.reshape(h // 2, 2, w // 2, 2).sum((1, 3))
    bias = 1 + (jnp.arange(w // 2) % 2)
    return (sums + bias) >> 2


def _fancy_upsample(plane: jax.Array) -> jax.Array:
    """libjpeg's h2v2_fancy_upsample: triangular 3/4-1/4 weights in each direction, edges replicated."""
    up = jnp.pad(plane, ((1, 1), (0, 0)), mode="edge")
    above = 3 * plane + up[:-2]
    below = 3 * plane + up[2:]
    rows = jnp.stack([above, below], 1).reshape(-1, plane.shape[1])  # column sums of output rows 2i, 2i+1
    side = jnp.pad(rows, ((0, 0), (1, 1)), mode="edge")
    left = (3 * rows + side[:, :-2] + 8) >> 4
    right = (3 * rows + side[:, 2:] + 7) >> 4
    return jnp.stack([left, right], 2).reshape(rows.shape[0], -1)


def _quantize_roundtrip(plane: jax.Array, table: np.ndarray) -> jax.Array:
    """8x8 blocks: level shift, DCT, quantise (round half away from zero), dequantise, IDCT, round, clamp."""
    h, w = plane.shape
    dct = jnp.asarray(_block_dct_matrix())  # one (blocks, 64) x (64, 64) matmul each way: fast on CPU and devices
    blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64).astype(jnp.float32) - 128
    hi = jax.lax.Precision.HIGHEST
    coefs = jnp.matmul(blocks, dct.T, precision=hi)
    table = jnp.asarray(table, jnp.float32).reshape(64)
    levels = jnp.sign(coefs) * jnp.floor(jnp.abs(coefs) / table + 0.5)
    samples = jnp.matmul(levels * table, dct, precision=hi)
    samples = jnp.clip(jnp.floor(samples + 128.5), 0, 255).astype(jnp.int32)
    return samples.reshape(h // 8, w // 8, 8, 8).transpose(0, 2, 1, 3).reshape(h, w)


def jpeg_roundtrip(rgb: jax.Array, quality: int) -> jax.Array:
    """Decoded JPEG of an (H, W, 3) image of integer levels 0..255 (any int or float dtype); int32 out."""
    h, w = rgb.shape[:2]
    pad_h, pad_w = -h % 16, -w % 16
    rgb = jnp.pad(jnp.round(rgb).astype(jnp.int32), ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    ycc = _to_ycbcr(rgb)
    luma_table, chroma_table = quantization_tables(quality)
    luma = _quantize_roundtrip(ycc[..., 0], luma_table)[:h, :w]
    chroma_h, chroma_w = (h + 1) // 2, (w + 1) // 2
    chroma = [_fancy_upsample(_quantize_roundtrip(_downsample(ycc[..., c]), chroma_table)[:chroma_h, :chroma_w])
              for c in (1, 2)]
    return _to_rgb(jnp.stack([luma] + [c[:h, :w] for c in chroma], -1))
