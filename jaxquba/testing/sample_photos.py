"""The shared ImageNet sample photos (../shared/data/imagenet_samples) as test and benchmark inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def resize256_crops(shared_data: Path, count: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``count`` shared sample photos (every ``stride``-th, sorted by file), shorter side resized to 256 (PIL
    bilinear) and centre-cropped to 224: how ImageNet-C's inputs were made, and the generalization study's loader.
    Returns (uint8 (N, 224, 224, 3), labels (N,))."""
    import csv

    from PIL import Image

    folder = shared_data / "imagenet_samples"
    with open(folder / "labels.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["file"])[::stride][:count]
    images = []
    for row in rows:
        image = Image.open(folder / row["file"]).convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((max(256, round(image.size[0] * scale)), max(256, round(image.size[1] * scale))),
                             Image.BILINEAR)
        left, top = (image.size[0] - 224) // 2, (image.size[1] - 224) // 2
        images.append(np.asarray(image.crop((left, top, left + 224, top + 224))))
    return np.stack(images), np.array([int(r["class_index"]) for r in rows])
