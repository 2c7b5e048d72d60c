"""The `imagecorruptions` reference (1.1.2) made importable on numpy 2 / scikit-image >= 0.19, for tests and benchmarks.

Three of its corruptions break on current libraries: ``np.float_`` is gone (fog) and skimage's ``gaussian`` no longer
takes ``multichannel`` (glass_blur, gaussian_blur). :func:`reference` applies the small shim from
``shared/docs/ENVIRONMENT.md`` §5 once and returns the patched module; the library code itself never imports it.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def reference():
    """The patched ``imagecorruptions`` package (``corrupt``, ``get_corruption_names``, ``corruptions``)."""
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    import imagecorruptions
    import imagecorruptions.corruptions as module

    original_gaussian = module.gaussian

    def gaussian(image, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return original_gaussian(image, *args, **kwargs)

    module.gaussian = gaussian
    return imagecorruptions


def imagenet_c_crops(shared_data, count: int, stride: int = 1):
    """``count`` shared sample photos (every ``stride``-th, sorted by file) prepared like ImageNet-C's inputs:
    shorter side resized to 256 (PIL bilinear), centre crop 224. Returns (uint8 (N, 224, 224, 3), labels (N,))."""
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
