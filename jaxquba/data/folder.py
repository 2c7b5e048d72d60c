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

A folder is user input, so it is checked when opened: ``class_index`` values must be non-negative integers, a file
listed twice with one label is counted once (with the same file under two labels it is an error naming the rows),
and every image is decoded once (JPEGs at 1/8 scale, which still reads all their data). An image that cannot be
decoded, or is smaller than ``MIN_IMAGE_SIDE``, or is of a mode that has no faithful 8-bit RGB reading, is left out of
the examples and listed in ``skipped`` as (file, reason); the run reports them (``--strict_data`` makes them an
error). ``fingerprint`` digests the file list with sizes and modification times and the bytes of ``labels.csv``, so
results stored for a folder are not reused after its contents change.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jaxquba.errors import UserError

# The extensions torchvision's ImageFolder accepts, compared case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LABELS_FILE = "labels.csv"
# Smaller images are refused: resizing a few pixels up to the model's input makes a picture of nothing, and the
# smallest photos of the evaluated sets are many times larger.
MIN_IMAGE_SIDE = 8
# Modes Pillow's convert('RGB') would clip instead of scale (a 16-bit image would come out nearly white).
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_UNSCALED_MODES = ("I", "F")


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids; position = the standard class index."""
    text = resources.files("jaxquba").joinpath("resources/imagenet_wnids.json").read_text()
    return tuple(json.loads(text)["wnids"])


def decode_image(path: Path) -> np.ndarray:
    """The file decoded with PIL as RGB uint8, as timm's and torchvision's loaders do (``convert('RGB')``: palette,
    CMYK, grey and alpha images alike; alpha is dropped). 16-bit greyscale is first scaled to 8 bits by its high
    byte, as Pillow reads 16-bit colour PNGs; a plain ``convert`` would clip every value above 255 to white."""
    with Image.open(path) as img:
        if img.mode in _SIXTEEN_BIT_MODES:
            grey = (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
            return np.repeat(grey[:, :, None], 3, axis=2)
        if img.mode in _UNSCALED_MODES:
            raise UserError(f"{path}: {_mode_refusal(img.mode)}")
        return np.asarray(img.convert("RGB"))


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an example (undecodable, too small, an unsupported mode), or None if it can."""
    try:
        with Image.open(path) as img:
            if min(img.size) < MIN_IMAGE_SIDE:
                return (f"{img.width}x{img.height} pixels, smaller than the minimum {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}; "
                        "remove it or replace it with a larger image")
            if img.mode in _UNSCALED_MODES:
                return _mode_refusal(img.mode)
            img.draft("RGB", (img.width // 8, img.height // 8))  # JPEG: decode at 1/8 scale, still reading all data
            img.load()
    except Exception as e:  # the bytes are the user's: whatever a decoder raises on them makes the file unusable
        reason = " ".join(str(e).split())[:160]
        return f"cannot be decoded ({type(e).__name__}: {reason}); replace or remove the file"
    return None


def _mode_refusal(mode: str) -> str:
    return (f"Pillow mode {mode} (32-bit integer or float pixels) has no standard 8-bit reading; convert the image "
            "to 8-bit RGB")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


class FolderSource:
    """Images in a folder, labelled by ``labels.csv`` or by class subfolders (see the module docstring).

    ``skipped``: (file, reason) of the files left out; ``fingerprint``: the digest of the folder's contents."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise UserError(f"folder:{root}: no such directory. Pass a folder holding images and a {LABELS_FILE} "
                            "(columns file,class_index) or one subfolder per class.")
        self.name = f"folder:{self.root.resolve()}"
        if (self.root / LABELS_FILE).is_file():
            files, labels, self.num_classes, self.skipped = _read_labels_csv(self.root)
        else:
            (files, labels, self.num_classes), self.skipped = _scan_class_folders(self.root), []
        self.fingerprint = files_fingerprint(self.root, files)
        with ThreadPoolExecutor() as pool:
            problems = list(pool.map(image_problem, (self.root / f for f in files)))
        self.skipped += [(f, p) for f, p in zip(files, problems) if p]
        kept = [i for i, p in enumerate(problems) if not p]
        if not kept:
            raise UserError(f"folder:{self.root}: none of its {len(files)} images can be used, e.g. "
                            f"{self.skipped[-1][0]}: {self.skipped[-1][1]}")
        self._files = [files[i] for i in kept]
        self._labels = [labels[i] for i in kept]

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rel = self._files[index]
        return {"image": decode_image(self.root / rel), "label": self._labels[index], "id": rel}

    def labels_outside(self, num_classes: int) -> list[str]:
        """The examples whose label is not a class of a ``num_classes``-way model, as 'file: label'."""
        return [f"{f}: {label}" for f, label in zip(self._files, self._labels) if label >= num_classes]


def files_fingerprint(root: Path, files: list[str]) -> str:
    """sha256 of ``root``'s labels.csv bytes (if any) and each listed file's name, size and modification time
    (first 16 hex digits): what changes when a label is edited or an image replaced, without reading every image."""
    digest = hashlib.sha256()
    if (root / LABELS_FILE).is_file():
        digest.update((root / LABELS_FILE).read_bytes())
    for rel in files:
        stat = (root / rel).stat()
        digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _read_labels_csv(root: Path) -> tuple[list[str], list[int], int, list[tuple[str, str]]]:
    """(files, labels, num_classes, duplicates skipped) of ``labels.csv``; rows are named by their line number."""
    csv_path = root / LABELS_FILE
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing_columns = {"file", "class_index"} - set(reader.fieldnames or ())
        if missing_columns:
            raise UserError(f"{csv_path} lacks the column(s) {sorted(missing_columns)}; "
                            "it needs a header with `file` and `class_index`.")
        rows = [(reader.line_num, row["file"], row["class_index"]) for row in reader]
    if not rows:
        raise UserError(f"{csv_path} has no rows.")
    bad = [f"line {n} ({index!r})" for n, _, index in rows if not (index or "").strip().isdigit()]
    if bad:
        raise UserError(f"{csv_path}: class_index must be an integer >= 0 (an ImageNet-1k index); "
                        f"{len(bad)} row(s) are not: {', '.join(bad[:5])}.")
    first_row: dict[str, tuple[int, int]] = {}
    files, labels, duplicates, conflicts = [], [], [], []
    for line, file, index in rows:
        label = int(index)
        if file in first_row:
            seen_line, seen_label = first_row[file]
            if seen_label != label:
                conflicts.append(f"{file} (line {seen_line}: {seen_label}, line {line}: {label})")
            duplicates.append((file, f"listed again on line {line} of {LABELS_FILE} (counted once, from line "
                                      f"{seen_line})"))
            continue
        first_row[file] = (line, label)
        files.append(file)
        labels.append(label)
    if conflicts:
        raise UserError(f"{csv_path} gives {len(conflicts)} file(s) two different labels: {', '.join(conflicts[:5])}. "
                        "Keep one row per file.")
    absent = [f for f in files if not (root / f).is_file()]
    if absent:
        raise UserError(f"{csv_path} names {len(absent)} file(s) that do not exist under {root}, "
                        f"e.g. {absent[:3]}.")
    return files, labels, max(1000, max(labels) + 1), duplicates


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
