"""ImageNet-C as the release made it and as the published evaluations read it, computed on the device.

The release (Hendrycks & Dietterich, ``make_imagenet_c.py``) resized each validation image to 256 (bilinear,
shorter side), centre-cropped 224, corrupted that, cast to ``np.uint8`` and saved it as a JPEG at quality 85. An
evaluation then reads each 224 px JPEG through the model's own eval transform (QUBA: Resize to the model's
``input_size / crop_pct`` with its interpolation, CenterCrop ``input_size``; the generalization study: as stored).

:func:`release_view` reproduces that chain for one (corruption, severity) on images the host prepared with the
release's preprocessing (:data:`RELEASE_PREPROCESS`): the corruption at 224 (truncated to uint8 as the release
saved it), the JPEG encode/decode at quality 85 (:mod:`.jpeg`, equal to Pillow's), then Pillow's resize of the
decoded image with the model's interpolation and the centre crop (:mod:`jaxquba.views.pillow_resize`, equal to
Pillow's). The model's normalisation follows inside the model function, as for every view.

Randomness: each image's draws come from the key of the corruption alone (``corrupt(name=..,severity=..)``, the
same per-example key as the model-input views), not from the model's transform, so every model sees the same
corrupted JPEG of an image for a given seed, as every model reads the same release file.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp

from jaxquba.views import registry
from jaxquba.views.base import View, ViewContext, example_keys, spec_name
from jaxquba.views.corruptions import check, corrupt, jpeg
from jaxquba.views.pillow_resize import PillowResize

RELEASE_SIZE = 224  # the release's images: Resize(256) bilinear, CenterCrop(224)
RELEASE_RESIZE = 256
RELEASE_PREPROCESS = dict(input_size=RELEASE_SIZE, crop_pct=RELEASE_SIZE / RELEASE_RESIZE, interpolation="bilinear",
                          crop_mode="center")
"""The release's host preprocessing as DataConfig fields (``dataclasses.replace(model_data, **RELEASE_PREPROCESS)``;
the normalisation stays the model's)."""
RELEASE_JPEG_QUALITY = 85


def model_transform_of_release(resize: int, crop: int, interpolation: str) -> PillowResize:
    """A model's eval transform (Resize ``resize`` with ``interpolation``, CenterCrop ``crop``, offsets rounded as
    torchvision's ``center_crop``) applied to a decoded 224 x 224 release image. On a square image timm's
    shorter-side resize and its ``squash`` mode give the same ``resize`` x ``resize`` image."""
    if not 0 < crop <= resize:
        raise ValueError(f"the crop ({crop}) must fit in the resized image ({resize})")
    offset = int(round((resize - crop) / 2.0))
    keep = range(offset, offset + crop)
    return PillowResize((RELEASE_SIZE, RELEASE_SIZE), (resize, resize), interpolation, rows=keep, cols=keep)


def read_release_file(saved: jax.Array, transform: PillowResize | None) -> jax.Array:
    """uint8-level (B, 224, 224, 3) images as the release saved them -> what a model reads of their files (int32
    levels): the JPEG q85 encode/decode, then ``transform`` (None: as stored)."""
    if saved.shape[1:] != (RELEASE_SIZE, RELEASE_SIZE, 3):
        raise ValueError(f"release-style ImageNet-C files are {RELEASE_SIZE} px images, got {saved.shape}")
    decoded = jax.vmap(lambda image: jpeg.jpeg_roundtrip(image, RELEASE_JPEG_QUALITY))(saved)
    return decoded if transform is None else transform(decoded)


def release_view(name: str, severity: int, transform: PillowResize | None) -> View:
    """The engine view ``imagenet_c(name=..,severity=..,transform=..)``: the release's corruption of a
    release-preprocessed batch (float [0, 1]) as read through ``transform`` (a model's, from
    :func:`model_transform_of_release`; None: as stored)."""
    check(name, severity)
    if transform is None:
        read = "as_stored"
    else:
        rows = transform.rows or range(transform.out_hw[0])
        read = f"resize{transform.out_hw[0]}-{transform.interpolation}-crop{len(rows)}"
    view_name = spec_name("imagenet_c", name=name, severity=severity, transform=read)
    key_name = spec_name("corrupt", name=name, severity=severity)

    def saved(images01: jax.Array, ctx: ViewContext) -> jax.Array:
        images = jnp.round(images01 * 255).astype(jnp.uint8)
        return corrupt(images, name, severity, example_keys(ctx, key_name)).astype(jnp.float32) / 255

    return View(view_name, saved, cost=0.0, finish=read_release_view(transform, read))


def read_release_view(transform: PillowResize | None, read: str) -> View:
    """The reading half shared by every release view with this ``transform``: JPEG q85 of the saved image, then
    the model's transform (the engine compiles it once for all 75 or 95 corruptions)."""
    def fn(saved01: jax.Array, ctx: ViewContext) -> jax.Array:
        saved = jnp.round(saved01 * 255).astype(jnp.int32)
        return read_release_file(saved, transform).astype(jnp.float32) / 255

    return View(spec_name("read_release_file", transform=read), fn, cost=0.0)


def _release_view_of_spec(name: str, severity: int, transform: str) -> View:
    """:func:`release_view` from its spec's fields (``transform``: ``as_stored`` or ``resize{R}-{interp}-crop{C}``)."""
    if transform == "as_stored":
        return release_view(name, severity, None)
    match = re.fullmatch(r"resize(\d+)-([a-z]+)-crop(\d+)", transform)
    if not match:
        raise ValueError(f"transform {transform!r} is neither as_stored nor resize<R>-<interpolation>-crop<C>")
    resize, interpolation, crop = int(match.group(1)), match.group(2), int(match.group(3))
    return release_view(name, severity, model_transform_of_release(resize, crop, interpolation))


registry.register("imagenet_c", _release_view_of_spec)
