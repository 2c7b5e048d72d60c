"""A source over a plain folder of images (``--dataset=folder:PATH``).

Two layouts are understood, checked in this order:

1. ``PATH/labels.csv`` with columns ``file`` (path relative to ``PATH``) and ``class_index``: the examples are the
   rows in file order, and ``class_index`` is taken as an ImageNet-1k index, so ``num_classes`` is 1000 (or
   ``max(class_index) + 1`` where a larger label space is used).
2. Class subfolders (``PATH/<class>/**/<image>``): class folders sorted by name (torchvision ``ImageFolder``'s
   class order), files sorted by relative path inside each (``ImageFolder``'s order for flat class folders). Labels:

   * every folder name is an ImageNet-1k wnid -> the standard ImageNet index of that wnid (``num_classes`` 1000), so
     a folder holding only some of the 1000 classes (ImageNet-A, a subset of val) still gets ImageNet labels;
   * otherwise -> the folder's position in the sorted list (``ImageFolder``'s rule; ``num_classes`` = folder count).

The 1000 wnids ship as ``jaxquba/resources/imagenet_wnids.json`` (read from timm's installed
``imagenet_synsets.txt``; sorted wnid order is the standard index order).
"""

from __future__ import annotations

import csv
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jaxquba.errors import UserError

# The extensions torchvision's ImageFolder accepts, compared case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LABELS_FILE = "labels.csv"


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids; position = the standard class index."""
    text = resources.files("jaxquba").joinpath("resources/imagenet_wnids.json").read_text()
    return tuple(json.loads(text)["wnids"])


def decode_image(path: Path) -> np.ndarray:
    """The file decoded with PIL and converted to RGB, as timm's and torchvision's loaders do."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


class FolderSource:
    """Images in a folder, labelled by ``labels.csv`` or by class subfolders (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise UserError(f"folder:{root}: no such directory. Pass a folder holding images and a {LABELS_FILE} "
                            "(columns file,class_index) or one subfolder per class.")
        self.name = f"folder:{self.root.resolve()}"
        if (self.root / LABELS_FILE).is_file():
            self._files, self._labels, self.num_classes = _read_labels_csv(self.root)
        else:
            self._files, self._labels, self.num_classes = _scan_class_folders(self.root)

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rel = self._files[index]
        return {"image": decode_image(self.root / rel), "label": self._labels[index], "id": rel}


def _read_labels_csv(root: Path) -> tuple[list[str], list[int], int]:
    with open(root / LABELS_FILE, newline="") as f:
        reader = csv.DictReader(f)
        missing_columns = {"file", "class_index"} - set(reader.fieldnames or ())
        if missing_columns:
            raise UserError(f"{root / LABELS_FILE} lacks the column(s) {sorted(missing_columns)}; "
                            "it needs a header with `file` and `class_index`.")
        rows = [(row["file"], row["class_index"]) for row in reader]
    if not rows:
        raise UserError(f"{root / LABELS_FILE} has no rows.")
    try:
        labels = [int(index) for _, index in rows]
    except ValueError as e:
        raise UserError(f"{root / LABELS_FILE}: class_index must be an integer ({e}).") from None
    files = [file for file, _ in rows]
    absent = [f for f in files if not (root / f).is_file()]
    if absent:
        raise UserError(f"{root / LABELS_FILE} names {len(absent)} file(s) that do not exist under {root}, "
                        f"e.g. {absent[:3]}.")
    return files, labels, max(1000, max(labels) + 1)


def _scan_class_folders(root: Path) -> tuple[list[str], list[int], int]:
    class_dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserError(f"folder:{root} has neither a {LABELS_FILE} (columns file,class_index) nor class "
                        "subfolders; use one of those two layouts.")
    wnid_index = {w: i for i, w in enumerate(imagenet_wnids())}
    if all(name in wnid_index for name in class_dirs):
        label_of, num_classes = wnid_index, len(wnid_index)
    else:
        label_of, num_classes = {name: i for i, name in enumerate(class_dirs)}, len(class_dirs)
    files, labels = [], []
    for name in class_dirs:
        images = sorted(p.relative_to(root).as_posix() for p in (root / name).rglob("*") if is_image_file(p))
        files += images
        labels += [label_of[name]] * len(images)
    if not files:
        raise UserError(f"folder:{root}: the class subfolders hold no images ({', '.join(IMAGE_EXTENSIONS)}).")
    return files, labels, num_classes
