"""Spectral low-pass and high-pass views (generalization study, P2.3 "spectral bias").

Per image and channel, with the centred spectrum F = fftshift(fft2(x)) of an H x W image (cy = H // 2, cx = W // 2):

* low-pass at cutoff c keeps the centred box of half-widths ry = int(c * cy), rx = int(c * cx)
  (rows cy - ry ... cy + ry - 1, columns likewise) and zeroes the rest;
* high-pass at cutoff c zeroes the box of half-widths int((1 - c) * cy), int((1 - c) * cx) and keeps the rest;
* the image is ``clip(real(ifft2(ifftshift(F * mask))), 0, 1)``.

The box is not symmetric about zero frequency (it holds -r but not +r), so the filtered image has an imaginary part,
which is dropped as in the reference. The mask is applied in unshifted layout (``ifftshift`` of the centred mask),
which is the same product without two shifts of the spectrum.
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

from jaxquba.errors import UserError
from jaxquba.views import registry
from jaxquba.views.base import View, spec_name

CUTOFFS = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
"""The study's 11 cutoffs per filter (22 passes in all)."""


def centred_mask(height: int, width: int, cutoff: float, lowpass: bool) -> np.ndarray:
    """The (H, W) 0/1 mask of P2.3 in centred (fftshifted) layout."""
    if not 0.0 <= cutoff <= 1.0:
        raise UserError(f"spectral cutoff must be in [0, 1], got {cutoff}")
    cy, cx = height // 2, width // 2
    box = cutoff if lowpass else 1.0 - cutoff
    ry, rx = int(box * cy), int(box * cx)
    inside = np.zeros((height, width), bool)
    inside[cy - ry:cy + ry, cx - rx:cx + rx] = True
    return (inside if lowpass else ~inside).astype(np.float32)


def bandpass(images01: jax.Array, cutoff: float, lowpass: bool) -> jax.Array:
    """Low- or high-pass filtered images (B, H, W, C) in [0, 1], as P2.3 defines them."""
    _, height, width, _ = images01.shape
    mask = jnp.asarray(np.fft.ifftshift(centred_mask(height, width, cutoff, lowpass)))[:, :, None]
    spectrum = jnp.fft.fft2(images01.astype(jnp.float32), axes=(1, 2))
    return jnp.clip(jnp.fft.ifft2(spectrum * mask, axes=(1, 2)).real, 0.0, 1.0)


def lowpass_view(cutoff: float) -> View:
    """``lowpass(cutoff=c)``: keep the central fraction c of frequencies."""
    return View(spec_name("lowpass", cutoff=float(cutoff)), lambda x, ctx: bandpass(x, cutoff, lowpass=True))


def highpass_view(cutoff: float) -> View:
    """``highpass(cutoff=c)``: keep the outermost fraction c of frequencies."""
    return View(spec_name("highpass", cutoff=float(cutoff)), lambda x, ctx: bandpass(x, cutoff, lowpass=False))


def spectral_views() -> list[View]:
    """The study's 22 filtered passes: 11 low-pass then 11 high-pass cutoffs."""
    return [lowpass_view(c) for c in CUTOFFS] + [highpass_view(c) for c in CUTOFFS]


registry.register("lowpass", lowpass_view)
registry.register("highpass", highpass_view)
