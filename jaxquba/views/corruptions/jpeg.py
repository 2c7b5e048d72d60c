"""Baseline JPEG encode + decode at a quality level, in JAX, as Pillow (libjpeg-turbo) does it with default settings.

Pillow's ``save(..., 'JPEG', quality=q)`` uses libjpeg's defaults: YCbCr with 4:2:0 chroma subsampling, the Annex K
quantisation tables scaled by quality (``jpeg_quality_scaling``, clamped to 1..255), the slow integer DCT, and on
decode "fancy" (triangular) chroma upsampling. Every step is reproduced in libjpeg's integer arithmetic: colour
conversion, downsampling and upsampling in 16-bit fixed point, and the forward and inverse DCT as libjpeg's "islow"
transforms (the Loeffler-Ligtenberg-Moschytz factorisation with 13-bit constants, rounded after each 1-D pass), with
its quantisation rounding and its post-IDCT range limiting. Everything is int32, as libjpeg's INT32 is, so the
decoded image equals Pillow's.
"""

from __future__ import annotations


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
    """libjpeg's h2v2_downsample: 2x2 sums with a bias alternating 1, 2 along each output row.

    The sums add four strided slices: as a reduction over a (h/2, 2, w/2, 2) view, XLA:CPU took 1 ms per chroma
    plane at batch 8 (a quarter of the whole codec), the slices 0.2 ms. Integer sums, so the same values."""
    w = plane.shape[1]
    sums = plane[0::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 0::2] + plane[1::2, 1::2]
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


CONST_BITS, PASS1_BITS = 13, 2  # libjpeg islow: constants scaled by 2^13; pass-1 outputs keep 2 extra bits


def _islow(value: float) -> int:
    return int(value * (1 << CONST_BITS) + 0.5)


C0298, C0390, C0541, C0765, C0899, C1175 = map(_islow, (0.298631336, 0.390180644, 0.541196100, 0.765366865,
                                                       0.899976223, 1.175875602))
C1501, C1847, C1961, C2053, C2562, C3072 = map(_islow, (1.501321110, 1.847759065, 1.961570560, 2.053119869,
                                                       2.562915447, 3.072711026))


def _descale(x: jax.Array, bits: int) -> jax.Array:
    return (x + (1 << (bits - 1))) >> bits


def _rotation_odd_part(a7, a5, a3, a1):
    """The odd half shared by the forward and inverse islow DCT (inputs named by the inverse's frequencies)."""
    z1, z2, z3, z4 = a7 + a1, a5 + a3, a7 + a3, a5 + a1
    z5 = (z3 + z4) * C1175
    z1, z2, z3, z4 = -z1 * C0899, -z2 * C2562, -z3 * C1961 + z5, -z4 * C0390 + z5
    return a7 * C0298 + z1 + z3, a5 * C2053 + z2 + z4, a3 * C3072 + z2 + z3, a1 * C1501 + z1 + z4


def _fdct_1d(d: jax.Array, axis: int, first_pass: bool) -> jax.Array:
    """libjpeg's jpeg_fdct_islow along ``axis`` (rows first, then columns); outputs are scaled by 8 overall."""
    d = [jnp.take(d, i, axis=axis) for i in range(8)]
    tmp0, tmp7, tmp1, tmp6 = d[0] + d[7], d[0] - d[7], d[1] + d[6], d[1] - d[6]
    tmp2, tmp5, tmp3, tmp4 = d[2] + d[5], d[2] - d[5], d[3] + d[4], d[3] - d[4]
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    shift = CONST_BITS - PASS1_BITS if first_pass else CONST_BITS + PASS1_BITS
    dc = (lambda x: x << PASS1_BITS) if first_pass else (lambda x: _descale(x, PASS1_BITS))
    z1 = (tmp12 + tmp13) * C0541
    odd7, odd5, odd3, odd1 = _rotation_odd_part(tmp4, tmp5, tmp6, tmp7)
    out = [dc(tmp10 + tmp11), odd1, z1 + tmp13 * C0765, odd3, dc(tmp10 - tmp11), odd5, z1 - tmp12 * C1847, odd7]
    out = [o if k in (0, 4) else _descale(o, shift) for k, o in enumerate(out)]
    return jnp.stack(out, axis=axis)


def _idct_1d(c: jax.Array, axis: int, first_pass: bool) -> jax.Array:
    """libjpeg's jpeg_idct_islow along ``axis`` (columns first, then rows), without the final range limiting."""
    c = [jnp.take(c, i, axis=axis) for i in range(8)]
    z1 = (c[2] + c[6]) * C0541
    tmp2, tmp3 = z1 - c[6] * C1847, z1 + c[2] * C0765
    tmp0, tmp1 = (c[0] + c[4]) << CONST_BITS, (c[0] - c[4]) << CONST_BITS
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    odd7, odd5, odd3, odd1 = _rotation_odd_part(c[7], c[5], c[3], c[1])
    out = [tmp10 + odd1, tmp11 + odd3, tmp12 + odd5, tmp13 + odd7,
           tmp13 - odd7, tmp12 - odd5, tmp11 - odd3, tmp10 - odd1]
    shift = CONST_BITS - PASS1_BITS if first_pass else CONST_BITS + PASS1_BITS + 3
    return jnp.stack([_descale(o, shift) for o in out], axis=axis)


def _divide(numerator: jax.Array, divisor: np.ndarray) -> jax.Array:
    """``numerator // divisor`` for non-negative int32 numerators below 2^24 and a static positive divisor table.

    x86 has no vector integer division, and XLA fuses the quantisation into each of the 8 inverse-DCT inputs, so
    ``//`` cost most of the JPEG time. Here: a float32 product with the host's reciprocal (within 1 of the quotient
    for numerators below 2^24), then one exact integer correction.
    """
    reciprocal = jnp.asarray(1.0 / divisor.astype(np.float64), jnp.float32)
    divisor = jnp.asarray(divisor, jnp.int32)
    quotient = (numerator.astype(jnp.float32) * reciprocal).astype(jnp.int32)
    remainder = numerator - quotient * divisor
    return quotient + (remainder >= divisor).astype(jnp.int32) - (remainder < 0).astype(jnp.int32)


def _quantize_roundtrip(plane: jax.Array, table: np.ndarray) -> jax.Array:
    """8x8 blocks: level shift, forward DCT, quantise, dequantise, inverse DCT, range limit, as libjpeg does.

    The blocks are laid out (row in block, column in block, block row, block column): each 1-D pass then reads and
    writes whole contiguous planes with the blocks along the vectorised minor axes, where the (blocks, 8, 8) layout
    made every pass select among 8 strided operands per element (~7x slower on CPU, same values).
    """
    h, w = plane.shape
    blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(1, 3, 0, 2).astype(jnp.int32) - 128
    coefs = _fdct_1d(_fdct_1d(blocks, 1, True), 0, False)
    table = table.reshape(8, 8, 1, 1)
    levels = jnp.sign(coefs) * _divide(jnp.abs(coefs) + (table << 2), table << 3)  # islow output carries a factor 8
    samples = _idct_1d(_idct_1d(levels * jnp.asarray(table, jnp.int32), 0, True), 1, False)
    # libjpeg's range-limit table: the low 10 bits as a signed value, then +128 and clamped to 0..255
    samples = jnp.clip(((samples + 512) & 1023) - 512 + 128, 0, 255)
    return samples.transpose(2, 0, 3, 1).reshape(h, w)


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
