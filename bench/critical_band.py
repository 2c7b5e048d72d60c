"""Benchmark: critical-band stimulus generation (P2.3), jitted JAX views vs the reference approach, same run.

The reference approach is the study's per-image CPU path, restated here: PIL greyscale, contrast reduction, numpy
Gaussian noise, a pyrtools Laplacian pyramid with ``recon_pyr`` of one level, RMS rescaling, and the Python loop
over every pixel that repairs out-of-range values (with its 'redraw until in range' branch). Both sides start from
the same 224 px uint8 crops of the shared sample photos and produce float32 3-channel stimuli; the conditions are
a spread of (frequency, sigma) pairs, since the repair loop's cost grows with sigma. Prints a markdown table.

    .venv/bin/python bench/critical_band.py [--images 16] [--reference_images 4]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import pyrtools
from PIL import Image

from jaxquba.testing.sample_photos import resize256_crops
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views import critical_band as cb
from jaxquba.views.base import ViewContext


CONDITIONS = [(0, 0.02), (3, 0.08), (6, 0.16), (1, 0.16)]


def reference_stimulus(rgb_uint8: np.ndarray, frequency: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One stimulus, the reference way (float64 numpy, pyrtools, per-pixel repair loop)."""
    image = np.asarray(Image.fromarray(rgb_uint8).convert("L"), np.uint8) / 255.0
    image = (image - image.mean()) * cb.CONTRAST + cb.GREY_MEAN
    pyr = pyrtools.pyramids.LaplacianPyramid(rng.standard_normal(image.shape) * sigma)
    band = pyr.recon_pyr(levels=cb.NUM_FREQUENCIES - 1 - frequency)
    finest = pyr.recon_pyr(levels=0)
    noise = band * np.sqrt(np.mean(finest ** 2)) / np.sqrt(np.mean(band ** 2))
    total = image + noise
    if total.min() < 0 or total.max() > 1:
        for i in range(total.shape[0]):
            for j in range(total.shape[1]):
                if total[i, j] < 0 or total[i, j] > 1:
                    if total[i, j] < 0:
                        moved = cb.REPAIR_MARGIN - noise[i, j]
                        other_side = moved > 1
                    else:
                        moved = 1 - cb.REPAIR_MARGIN - noise[i, j]
                        other_side = moved < 0
                    if other_side:
                        fresh = noise[i, j]
                        while not 0 <= fresh + image[i, j] <= 1:
                            fresh = rng.standard_normal() * sigma
                        noise[i, j] = fresh
                    else:
                        image[i, j] = moved
        total = image + noise
    return np.repeat(total.astype(np.float32)[..., None], 3, axis=-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16, help="batch for the JAX views")
    parser.add_argument("--reference_images", type=int, default=4, help="images through the reference per condition")
    args = parser.parse_args()
    crops, _ = resize256_crops(shared_data_dir(), args.images)
    images01 = jnp.asarray(crops, jnp.float32) / 255
    ids = jnp.arange(args.images, dtype=jnp.int32)
    ctx = ViewContext(ids, ids, 0, None)
    rng = np.random.default_rng(0)
    print("| condition | JAX img/s (batch %d, jit) | reference img/s (%d images) | ratio | reference pixels repaired |"
          % (args.images, args.reference_images))
    print("|---|---:|---:|---:|---:|")
    for frequency, sigma in CONDITIONS:
        view = cb.critical_band_view(frequency, sigma)
        apply = jax.jit(view.fn)
        apply(images01, ctx).block_until_ready()  # compile
        start = time.perf_counter()
        apply(images01, ctx).block_until_ready()
        jax_rate = args.images / (time.perf_counter() - start)
        start = time.perf_counter()
        refs = [reference_stimulus(c, frequency, sigma, rng) for c in crops[:args.reference_images]]
        ref_rate = args.reference_images / (time.perf_counter() - start)
        at_margin = [np.isclose(r[..., 0], cb.REPAIR_MARGIN, atol=1e-6) | np.isclose(r[..., 0], 0.9, atol=1e-6)
                     for r in refs]
        repaired = np.mean([np.mean(m) for m in at_margin])
        print(f"| {view.name} | {jax_rate:.1f} | {ref_rate:.2f} | {jax_rate / ref_rate:.0f}x | {repaired:.2%} |",
              flush=True)


if __name__ == "__main__":
    main()
