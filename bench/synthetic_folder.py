"""A folder dataset of synthetic photos for speed checks where no ImageNet is at hand (the accelerator machine).

    python3 bench/synthetic_folder.py --images 5000 --out /tmp/synthetic

Writes ``--images`` JPEGs (quality 90) of smooth random colour fields with sharp edges, of varying sizes around
ImageNet's (short side 300-500 px), and ``labels.csv`` with random ImageNet classes, in the layout of
``--datasets=folder:PATH``. Deterministic for a seed. Speed is what they are for: decode, resize, the model, the
views and the attacks cost what they cost on photos, while any accuracy they yield is meaningless.
"""

from __future__ import annotations

import argparse
import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def photo(index: int, seed: int) -> Image.Image:
    """A smooth colour field (a low-resolution random grid, upsampled) with a few flat rectangles on it."""
    rng = np.random.default_rng([seed, index])
    short = int(rng.integers(300, 501))
    long = int(short * rng.uniform(1.0, 1.5))
    height, width = (short, long) if rng.random() < 0.7 else (long, short)
    grid = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(image).copy()
    for _ in range(int(rng.integers(2, 6))):
        top, left = int(rng.integers(0, height - 20)), int(rng.integers(0, width - 20))
        pixels[top:top + int(rng.integers(10, height // 2)), left:left + int(rng.integers(10, width // 2))] = \
            rng.integers(0, 256, 3, dtype=np.uint8)
    return Image.fromarray(pixels)


def _write(args: tuple[int, int, str]) -> str:
    index, seed, folder = args
    name = f"{index:06d}.JPEG"
    photo(index, seed).save(Path(folder) / name, quality=90)
    return name


def write_folder(out: Path, images: int, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        names = list(pool.map(_write, [(i, seed, str(out)) for i in range(images)], chunksize=64))
    labels = np.random.default_rng(seed).integers(0, 1000, images)
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "class_index"])
        writer.writerows(zip(names, labels.tolist()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_folder(args.out, args.images, args.seed))


if __name__ == "__main__":
    main()
