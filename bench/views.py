"""Throughput of the on-device views against their reference libraries, measured in the same run.

Corruption part (this file's ``corruptions`` section): images/s of each ImageNet-C corruption at severity 3 on
224 px photos, jaxquba (jitted, one batch, compile excluded) against ``imagecorruptions`` (one image at a time, as it
works), and the ratio. Prints a markdown table.

    .venv/bin/python bench/views.py [--batch 32] [--reference_images 8] [--repeats 2] [--corruptions glass_blur,spatter]

Each side's time is the best of ``--repeats`` timed calls (on a shared machine other jobs only add time).
"""

from __future__ import annotations

import argparse
import os
import platform

import jax
import jax.numpy as jnp
from timing import best_seconds

from jaxquba.testing.imagecorruptions_ref import reference
from jaxquba.testing.sample_photos import resize256_crops
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views.corruptions import CORRUPTION_NAMES, corrupt


SEVERITY = 3


def corruptions(batch: int, reference_images: int, names: list[str], repeats: int = 2) -> None:
    images, _ = resize256_crops(shared_data_dir(), batch, stride=max(1, 500 // batch))
    ref = reference()
    fn = jax.jit(corrupt, static_argnums=(1, 2))
    x = jnp.asarray(images)
    keys = jax.random.split(jax.random.key(0), batch)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), jax {jax.__version__} "
          f"{jax.devices()[0].platform}, batch {batch}, severity {SEVERITY}, 224 px\n")
    print("| corruption | jaxquba img/s | imagecorruptions img/s | ratio |")
    print("|---|---:|---:|---:|")
    for name in names:
        ours = batch / best_seconds(lambda: fn(x, name, SEVERITY, keys).block_until_ready(), repeats)
        count = 2 if name == "glass_blur" else reference_images  # glass blur: ~0.8 s per image
        theirs = count / best_seconds(lambda: [ref.corrupt(img, SEVERITY, name) for img in images[:count]], repeats,
                                      warmup=False)
        print(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reference_images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per side; the best counts")
    parser.add_argument("--corruptions", default=",".join(CORRUPTION_NAMES))
    args = parser.parse_args()
    names = args.corruptions.split(",")
    if not set(names) <= set(CORRUPTION_NAMES):
        parser.error(f"unknown corruptions {sorted(set(names) - set(CORRUPTION_NAMES))}")
    corruptions(args.batch, args.reference_images, names, args.repeats)


if __name__ == "__main__":
    main()
