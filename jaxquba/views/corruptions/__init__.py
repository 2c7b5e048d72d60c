"""The 19 ImageNet-C corruptions (Hendrycks & Dietterich) as batched, jittable JAX functions and engine views.

Constants, the order of operations and the size-dependent parts (elastic sigma, fog map size, frost scaling, zoom
crops) follow the ``imagecorruptions`` package (1.1.2), the reference implementation that works on any image size
from 32 px. Its numpy draws are replaced by JAX draws of the same distributions from per-example keys, so a view is
reproducible per (seed, corruption, severity, example index). The output is truncated to uint8 levels, as the
reference's ``corrupt()`` does with ``np.uint8(...)``.

Sequential parts of the reference are reproduced exactly in parallel: glass blur's pixel "swaps" by pointer jumping
(:func:`blur.glass_copy_chain`), spatter's OpenCV steps (Canny hysteresis, chamfer distance) as fixed points of
local updates (:mod:`._opencv`).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxquba.errors import UserError, closest
from jaxquba.views import registry
from jaxquba.views.base import View, ViewContext, example_keys, spec_name
from jaxquba.views.corruptions import blur, digital, noise, weather

CORRUPTIONS: dict[str, Callable[[jax.Array, int, jax.Array], jax.Array]] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "defocus_blur": blur.defocus_blur,
    "glass_blur": blur.glass_blur,
    "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": weather.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "elastic_transform": digital.elastic_transform,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": noise.speckle_noise,
    "gaussian_blur": blur.gaussian_blur,
    "spatter": weather.spatter,
    "saturate": digital.saturate,
}
"""Name -> fn(image (H, W, 3) float32 in 0..255, severity 1..5, key) -> image in 0..255, in the reference's order."""

CORRUPTION_NAMES: tuple[str, ...] = tuple(CORRUPTIONS)
COMMON_CORRUPTIONS: tuple[str, ...] = CORRUPTION_NAMES[:15]  # the 15 of the ImageNet-C benchmark
EXTRA_CORRUPTIONS: tuple[str, ...] = CORRUPTION_NAMES[15:]  # speckle_noise, gaussian_blur, spatter, saturate
SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIZE = 32


def check(name: str, severity: int) -> None:
    """Raises UserError for an unknown corruption name or a severity outside 1..5."""
    if name not in CORRUPTIONS:
        hint = closest(name, CORRUPTIONS)
        raise UserError(f"unknown corruption {name!r}" + (f"; did you mean {', '.join(hint)}?" if hint else "")
                        + f" Known: {', '.join(CORRUPTION_NAMES)}")
    if severity not in SEVERITIES:
        raise UserError(f"corruption severity must be an integer 1..5, got {severity!r}")


def corrupt(images: jax.Array, name: str, severity: int, keys: jax.Array) -> jax.Array:
    """Corrupts a batch (B, H, W, 3), uint8 or float in [0, 1], with one PRNG key per image.

    Returns the same kind: uint8 for uint8 input, float32 in [0, 1] otherwise; either way on the uint8 grid,
    truncated like the reference's ``np.uint8`` cast.
    """
    check(name, severity)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"corruptions take RGB batches (B, H, W, 3), got shape {images.shape}")
    if min(images.shape[1:3]) < MIN_SIZE:
        raise UserError(f"corruptions need images of at least {MIN_SIZE} px per side (as imagecorruptions), "
                        f"got {images.shape[1]}x{images.shape[2]}")
    as_uint8 = images.dtype == jnp.uint8
    x255 = images.astype(jnp.float32) if as_uint8 else images.astype(jnp.float32) * 255
    fn = CORRUPTIONS[name]
    out = jnp.floor(jnp.clip(jax.vmap(lambda x, k: fn(x, severity, k))(x255, keys), 0, 255))
    return out.astype(jnp.uint8) if as_uint8 else out / 255


def corruption_view(name: str, severity: int) -> View:
    """The engine view ``corrupt(name=<name>,severity=<severity>)`` on float [0, 1] batches."""
    check(name, severity)
    view_name = spec_name("corrupt", name=name, severity=severity)

    def fn(images01: jax.Array, ctx: ViewContext) -> jax.Array:
        return corrupt(images01, name, severity, example_keys(ctx, view_name))

    return View(view_name, fn, cost=0.0)


def corruption_views(names: tuple[str, ...] = COMMON_CORRUPTIONS, severities=SEVERITIES) -> list[View]:
    """Views for every (name, severity) pair, names outer."""
    return [corruption_view(n, s) for n in names for s in severities]


registry.register("corrupt", corruption_view)
