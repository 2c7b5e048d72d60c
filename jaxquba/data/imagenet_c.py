"""The released ImageNet-C (Hendrycks & Dietterich) as a Source, to compare released and on-device corruptions.

Two forms of the release are read:

* the official folder layout ``ROOT/<corruption>/<severity>/<wnid>/*.JPEG`` (224 px JPEGs):
  :class:`ImageNetCFolderSource`. Labels are standard ImageNet-1k indices: the sorted wnid folder listing when all
  1000 classes are there (sorted wnid order is the standard order), otherwise each folder's index in jaxquba's
  1000-wnid list (``jaxquba.data.folder.imagenet_wnids``), so a partial copy keeps correct labels.
* tfds ``imagenet2012_corrupted/<corruption>_<severity>`` (tfds regenerates the corruptions itself; not
  byte-identical to the JPEG release): :func:`imagenet_c_tfds`, read with ``tfds.data_source`` (no TensorFlow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxquba.data.folder import decode_image, files_fingerprint, imagenet_wnids, is_image_file
from jaxquba.data.tfds_sources import TfdsLayout, TfdsSource
from jaxquba.errors import UserError
from jaxquba.views.corruptions import check as check_corruption


class ImageNetCFolderSource:
    """One (corruption, severity) of an ImageNet-C release folder; examples sorted by wnid, then file name."""

    num_classes = 1000

    def __init__(self, root: str | Path, corruption: str, severity: int):
        check_corruption(corruption, severity)
        self.root = Path(root).expanduser()
        folder = self.root / corruption / str(severity)
        if not folder.is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            raise UserError(f"no ImageNet-C folder {folder}: expected the release layout "
                            f"ROOT/<corruption>/<severity>/<wnid>/*.JPEG"
                            + (f"; {self.root} holds {', '.join(present[:20])}" if present else ""))
        self.name = f"imagenet_c_folder(name={corruption},severity={severity}):{self.root}"
        class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
        wnids = [p.name for p in class_dirs]
        standard = {wnid: i for i, wnid in enumerate(imagenet_wnids())}
        unknown = [w for w in wnids if w not in standard]
        if unknown:
            raise UserError(f"{folder} has class folders that are not ImageNet-1k wnids: {', '.join(unknown[:5])}")
        index_of = ({wnid: i for i, wnid in enumerate(wnids)} if len(wnids) == 1000 else standard)
        self._files: list[Path] = []
        self._labels: list[int] = []
        for class_dir in class_dirs:
            for path in sorted(p for p in class_dir.rglob("*") if is_image_file(p)):
                self._files.append(path)
                self._labels.append(index_of[class_dir.name])
        if not self._files:
            raise UserError(f"no images under {folder}")
        self._folder = folder
        self.fingerprint = files_fingerprint(folder, [p.relative_to(folder).as_posix() for p in self._files])
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self._files[index]
        return {"image": decode_image(path), "label": self._labels[index],
                "id": path.relative_to(self._folder).as_posix()}


def imagenet_c_tfds(corruption: str, severity: int, data_dir: str | None = None,
                    split: str = "validation") -> TfdsSource:
    """tfds ``imagenet2012_corrupted/<corruption>_<severity>`` as a Source (must be prepared; no download)."""
    check_corruption(corruption, severity)
    config = f"imagenet2012_corrupted/{corruption}_{severity}"
    return TfdsSource(f"{config}:{split}", config, split, TfdsLayout(), data_dir,
                      prepare_hint="ImageNet-C in tfds needs the ImageNet-2012 validation tar in its manual folder; "
                                   f"then run: python -m jaxquba.data.prepare --dataset={config}")
