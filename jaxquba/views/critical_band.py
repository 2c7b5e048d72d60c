"""Critical-band noise views (generalization study, P2.3; Subramanian et al. 2023 stimuli on ImageNet val).

Per image: PIL-style greyscale, contrast reduced to 0.2 around 0.449; white Gaussian noise N(0, sigma^2) is split
into a 7-level Laplacian pyramid (pyrtools' ``LaplacianPyramid``: binomial-5 filters, reflect-about-edge borders,
factor-2 steps), one level is reconstructed alone at full size and rescaled to the RMS of the finest level, and added
to the image. Pixels pushed out of [0, 1] are repaired as in the reference's per-pixel loop, vectorised here
(:func:`repair_out_of_range`). The grey result is replicated to 3 channels.

Frequency index f = 0 (coarsest, the low-pass residual) ... 6 (finest) keeps pyramid level 6 - f; centres are about
1.75 * 2**f cycles/image. 7 frequencies x 4 sigmas + the clean (sigma = 0) condition = the study's 29 passes.

Randomness: noise and resampling come from :func:`jaxquba.views.base.example_keys`, so an image's stimulus depends
only on (seed, view, example id). The reference draws from numpy's global RNG, so stimuli agree in distribution,
not sample by sample.
"""

from __future__ import annotations

import math

import numpy as np

import jax
import jax.numpy as jnp

from jaxquba.errors import UserError
from jaxquba.views import registry
from jaxquba.views.base import View, ViewContext, example_keys, spec_name

NOISE_SIGMAS = (0.02, 0.04, 0.08, 0.16)
NUM_FREQUENCIES = 7
CONTRAST = 0.2
GREY_MEAN = 0.449  # the reference's "ImageNet mean" the reduced-contrast image is centred on
REPAIR_MARGIN = 0.1  # a repaired pixel lands this far inside [0, 1]
_BINOMIAL5 = np.sqrt(2.0) * np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # pyrtools 'binom5' (unnormalised)
_FILTER_SIZE = 5


def pil_greyscale(images01: jax.Array) -> jax.Array:
    """(B, H, W, 3) images in [0, 1] (uint8 levels / 255) -> (B, H, W) grey in [0, 1], as PIL's ``convert('L')``.

    PIL rounds ITU-R 601 luma in 16-bit fixed point: ``(R*19595 + G*38470 + B*7471 + 2**15) >> 16``.
    """
    rgb = jnp.round(images01 * 255.0).astype(jnp.int32)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 32768) >> 16
    return luma.astype(jnp.float32) / 255.0


def reduce_contrast(grey: jax.Array) -> jax.Array:
    """``(x - mean(x)) * 0.2 + 0.449`` per image (B, H, W)."""
    return (grey - grey.mean(axis=(1, 2), keepdims=True)) * CONTRAST + GREY_MEAN


def _correlate_binomial(x: jax.Array, axis: int, stride: int) -> jax.Array:
    """Reflect-pad by 2 (about the edge sample) and correlate with binom5 along ``axis``, keeping every stride-th."""
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    padded = jnp.pad(x, pad, mode="reflect")
    out_len = -(-n // stride)
    taps = [jax.lax.slice_in_dim(padded, k, k + stride * (out_len - 1) + 1, stride, axis) for k in range(_FILTER_SIZE)]
    return sum(float(w) * t for w, t in zip(_BINOMIAL5, taps))


def _downsample(x: jax.Array) -> jax.Array:
    """pyrtools ``corrDn`` with binom5, step 2, along columns then rows: (B, h, w) -> (B, ceil(h/2), ceil(w/2))."""
    return _correlate_binomial(_correlate_binomial(x, 2, 2), 1, 2)


def _upsample(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """pyrtools ``upConv`` with binom5, step 2: zeros between samples, then reflect-padded correlation."""
    for axis, n in ((1, size[0]), (2, size[1])):
        interleaved = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        x = _correlate_binomial(jax.lax.slice_in_dim(interleaved.reshape(shape), 0, n, axis=axis), axis, 1)
    return x


def pyramid_sizes(height: int, width: int, levels: int = NUM_FREQUENCIES) -> list[tuple[int, int]]:
    """Sizes of the pyramid levels, finest first; each needs at least 5 pixels a side, as pyrtools requires."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        if min(sizes[-1]) < _FILTER_SIZE:
            need = _FILTER_SIZE * 2 ** (levels - 2)
            raise UserError(f"critical-band noise needs a {levels}-level pyramid: images of at least {need} px a "
                            f"side (got {height}x{width}); use the study's 224 px crops")
        sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
    return sizes


def laplacian_pyramid(x: jax.Array, levels: int = NUM_FREQUENCIES) -> list[jax.Array]:
    """Laplacian pyramid of (B, H, W) arrays: ``levels - 1`` band-pass levels (finest first) + low-pass residual.

    The height is fixed (7 for the protocol), which is pyrtools' automatic height at the study's 224 px; pyrtools
    would build more levels for larger images, which would move the coarsest band.
    """
    sizes = pyramid_sizes(x.shape[1], x.shape[2], levels)
    bands = []
    for size in sizes[:-1]:
        coarser = _downsample(x)
        bands.append(x - _upsample(coarser, size))
        x = coarser
    return bands + [x]


def reconstruct_level(bands: list[jax.Array], level: int) -> jax.Array:
    """One pyramid level alone, upsampled to full size (pyrtools ``recon_pyr(levels=level)``)."""
    sizes = [b.shape[1:] for b in bands]
    x = bands[level]
    for lev in reversed(range(level)):
        x = _upsample(x, sizes[lev])
    return x


def _rms(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True))


def band_noise(noise: jax.Array, frequency: int) -> jax.Array:
    """Noise (B, H, W) restricted to octave band ``frequency`` (0 coarsest .. 6 finest), RMS matched to the finest."""
    bands = laplacian_pyramid(noise)
    band = reconstruct_level(bands, NUM_FREQUENCIES - 1 - frequency)
    return band * (_rms(bands[0]) / _rms(band))


def repair_out_of_range(image: jax.Array, noise: jax.Array, key: jax.Array, sigma: float) -> jax.Array:
    """``image + noise`` with the reference's out-of-range rule applied to every pixel at once.

    A pixel with image + noise < 0 has its image value moved to 0.1 - noise (so the sum is 0.1); one above 1 moves to
    0.9 - noise. If that moved value would leave [0, 1] on the other side, the image value stays and the noise pixel
    is redrawn from N(0, sigma^2) until image + noise is in [0, 1]; that rejection loop is exactly a draw from the
    normal truncated to [-image, 1 - image], which is what is sampled here. Pixels are independent in the rule, so
    the reference's raster-order loop is a per-pixel ``where``. ``key`` is one key per example.
    """
    total = image + noise
    low, high = total < 0, total > 1
    moved = jnp.where(low, REPAIR_MARGIN - noise, 1 - REPAIR_MARGIN - noise)
    redraw = (low & (moved > 1)) | (high & (moved < 0))
    lower, upper = -image / sigma, (1 - image) / sigma
    fresh = jax.vmap(lambda k, lo, hi: jax.random.truncated_normal(k, lo, hi, dtype=jnp.float32))(
        key, lower, upper) * sigma
    image = jnp.where((low | high) & ~redraw, moved, image)
    noise = jnp.where(redraw, fresh, noise)
    return image + noise


def critical_band_images(images01: jax.Array, frequency: int, sigma: float, unit_noise: jax.Array,
                         repair_keys: jax.Array) -> jax.Array:
    """The P2.3 stimulus for each image (B, H, W, 3) given standard-normal ``unit_noise`` (B, H, W).

    ``sigma == 0`` is the clean condition: the reduced-contrast greyscale image without noise.
    """
    image = reduce_contrast(pil_greyscale(images01))
    if sigma != 0:
        noise = band_noise(unit_noise * jnp.float32(sigma), frequency)
        image = repair_out_of_range(image, noise, repair_keys, sigma)
    return jnp.repeat(image[..., None], 3, axis=-1)


def critical_band_view(frequency: int, sigma: float) -> View:
    """``critical_band(freq=f,sigma=s)``; ``critical_band(sigma=0)`` is the clean (reduced-contrast grey) pass."""
    if sigma == 0:
        name = spec_name("critical_band", sigma=0.0)
    else:
        if frequency not in range(NUM_FREQUENCIES) or sigma < 0:
            raise UserError(f"critical band needs frequency in 0..{NUM_FREQUENCIES - 1} and sigma >= 0 "
                            f"(got frequency={frequency}, sigma={sigma})")
        name = spec_name("critical_band", freq=int(frequency), sigma=float(sigma))

    def fn(images01, ctx: ViewContext):
        keys = example_keys(ctx, name)
        noise_keys, repair_keys = jax.vmap(lambda k: jax.random.split(k))(keys).transpose(1, 0)
        unit = jax.vmap(lambda k: jax.random.normal(k, images01.shape[1:3], jnp.float32))(noise_keys)
        return critical_band_images(images01, frequency, sigma, unit, repair_keys)

    return View(name, fn)


def critical_band_views() -> list[View]:
    """The study's 29 passes: the clean condition, then 7 frequencies x 4 sigmas."""
    return [critical_band_view(0, 0.0)] + [critical_band_view(f, s) for f in range(NUM_FREQUENCIES)
                                           for s in NOISE_SIGMAS]


registry.register("critical_band", lambda sigma, freq=0: critical_band_view(freq, sigma))
