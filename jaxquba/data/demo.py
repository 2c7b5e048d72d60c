"""The ``demo`` source: real photos that ship inside installed wheels, with one ImageNet-1k label each.

For ``--demo`` on a fresh machine with no dataset prepared. The photos come from scikit-image (``skimage.data``),
scikit-learn (``sklearn/datasets/images``) and matplotlib (``mpl-data/sample_data``), all installed with
``pip install 'jaxquba[demo]'``. A photo may show more than one ImageNet class; the single label chosen for each is
the class of its main subject (so top-5 is the fairer reading of eight photos):

=====================  =====  ======================  ==============================================================
photo                  label  ImageNet class          why this one
=====================  =====  ======================  ==============================================================
skimage chelsea        281    tabby                   a striped domestic cat (282 tiger cat is as defensible)
skimage coffee         967    espresso                a cup of espresso on a saucer
skimage rocket         657    missile                 a rocket on its pad; IN-1k has no launch-vehicle class
skimage motorcycle     665    moped                   a motorcycle; IN-1k's closest class (no 'motorcycle')
skimage camera         872    tripod                  the cameraman's tripod-mounted camera is the main object
sklearn china.jpg      698    palace                  a Chinese palace/temple roof
sklearn flower.jpg     985    daisy                   a daisy-like flower head
matplotlib grace_hopper 652   military uniform        Grace Hopper in US Navy uniform
=====================  =====  ======================  ==============================================================

``skimage.data.astronaut`` is left out: no ImageNet class fits it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
from pathlib import Path
from typing import Any, Callable

import numpy as np

from jaxquba.errors import UserError

NAME = "demo"


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load():
        import skimage.data
        image = getattr(skimage.data, name)()
        return image[0] if isinstance(image, tuple) else image  # stereo_motorcycle returns (left, right, disparity)
    return load


def _sklearn(file: str) -> Callable[[], np.ndarray]:
    def load():
        from sklearn.datasets import load_sample_image
        return load_sample_image(file)
    return load


def _matplotlib(file: str) -> Callable[[], np.ndarray]:
    def load():
        import matplotlib
        from PIL import Image
        data = (Path(matplotlib.get_data_path()) / "sample_data" / file).read_bytes()
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return load


PHOTOS: tuple[tuple[str, int, Callable[[], np.ndarray]], ...] = (
    ("skimage/chelsea", 281, _skimage("chelsea")),
    ("skimage/coffee", 967, _skimage("coffee")),
    ("skimage/rocket", 657, _skimage("rocket")),
    ("skimage/stereo_motorcycle", 665, _skimage("stereo_motorcycle")),
    ("skimage/camera", 872, _skimage("camera")),
    ("sklearn/china.jpg", 698, _sklearn("china.jpg")),
    ("sklearn/flower.jpg", 985, _sklearn("flower.jpg")),
    ("matplotlib/grace_hopper.jpg", 652, _matplotlib("grace_hopper.jpg")),
)


class DemoSource:
    """The photos above as a :class:`jaxquba.data.base.Source` (1000 ImageNet classes)."""

    name = NAME
    num_classes = 1000
    skipped: list[tuple[str, str]] = []

    @functools.cached_property
    def fingerprint(self) -> str:
        """The photos' list and the versions of the packages that ship them."""
        versions = []
        for package in ("scikit-image", "scikit-learn", "matplotlib"):
            try:
                versions.append(f"{package}={importlib.metadata.version(package)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(f"{package}=absent")
        listing = ";".join(f"{photo}:{label}" for photo, label, _ in PHOTOS)
        return hashlib.sha256(f"{listing}|{','.join(versions)}".encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(PHOTOS)

    def __getitem__(self, index: int) -> dict[str, Any]:
        photo_id, label, _ = PHOTOS[index]
        return {"image": _image(index), "label": label, "id": photo_id}


@functools.lru_cache(maxsize=None)
def _image(index: int) -> np.ndarray:
    photo_id, _, load = PHOTOS[index]
    try:
        image = load()
    except ImportError as e:
        raise UserError(f"the demo photo {photo_id} needs its package: pip install 'jaxquba[demo]' ({e})") from e
    if image.ndim == 2:  # skimage's camera is greyscale
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
