"""Spectral low/high-pass views against a plain numpy implementation of P2.3's definition, written here."""

from __future__ import annotations

import numpy as np
import pytest
from jaxquba.testing.sample_photos import resize256_crops

import jax

from jaxquba.views import spectral

# The reference script's cutoffs, built the way it builds them (np.arange gives 0.30000000000000004 etc.).
REFERENCE_CUTOFFS = [0.01, *np.arange(0.1, 0.99, 0.1), 0.99]


def reference_bandpass(image_chw: np.ndarray, cutoff: float, lowpass: bool) -> np.ndarray:
    """P2.3 in float64 numpy, one image (C, H, W): shift, box mask, inverse, real part, clip."""
    spectrum = np.fft.fftshift(np.fft.fft2(image_chw.astype(np.float64)), axes=(-2, -1))
    if not lowpass:
        cutoff = 1 - cutoff
    h, w = spectrum.shape[-2:]
    cy, cx = h // 2, w // 2
    ry, rx = int(cutoff * cy), int(cutoff * cx)
    mask = np.zeros_like(spectrum) if lowpass else np.ones_like(spectrum)
    mask[:, cy - ry:cy + ry, cx - rx:cx + rx] = 1 if lowpass else 0
    return np.fft.ifft2(np.fft.ifftshift(spectrum * mask, axes=(-2, -1))).real.clip(0, 1)


def test_cutoffs_are_the_reference_cutoffs():
    np.testing.assert_allclose(spectral.CUTOFFS, REFERENCE_CUTOFFS, atol=1e-12)
    names = [v.name for v in spectral.spectral_views()]
    assert len(set(names)) == 22 and names[0] == "lowpass(cutoff=0.01)" and names[-1] == "highpass(cutoff=0.99)"


def test_all_22_filters_match_numpy_on_sample_images(shared_data):
    images = resize256_crops(shared_data, 3)[0].astype(np.float32) / 255
    filt = jax.jit(spectral.bandpass, static_argnums=(1, 2))
    worst = 0.0
    for lowpass in (True, False):
        for ours_c, ref_c in zip(spectral.CUTOFFS, REFERENCE_CUTOFFS):
            ours = np.asarray(filt(images, ours_c, lowpass))
            ref = np.stack([reference_bandpass(im.transpose(2, 0, 1), ref_c, lowpass).transpose(1, 2, 0)
                            for im in images])
            worst = max(worst, np.abs(ours - ref).max())
    # 1e-5: float32 FFT of 224x224 images in [0,1] against float64 (measured error ~1e-6); a mask off by one
    # frequency row changes pixels by ~1e-3 or more.
    assert worst <= 1e-5, worst


@pytest.mark.parametrize("shape", [(33, 40), (17, 17)])
def test_odd_and_non_square_sizes(shape):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, *shape, 3)).astype(np.float32)
    for c in (0.1, 0.5, 0.9):
        for lowpass in (True, False):
            ref = np.stack([reference_bandpass(im.transpose(2, 0, 1), c, lowpass).transpose(1, 2, 0)
                            for im in images])
            np.testing.assert_allclose(np.asarray(spectral.bandpass(images, c, lowpass)), ref, atol=1e-5, rtol=0)
