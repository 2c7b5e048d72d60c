"""Sources read from prepared tfds datasets through ``tfds.data_source`` (random access, no TensorFlow).

``tfds.data_source`` reads array_record files and decodes images with PIL, so evaluation needs neither TensorFlow
nor a ``tf.data`` pipeline. It is always called with ``download=False``: a dataset that is not prepared becomes a
:class:`UserError` that says how to prepare it, instead of an unasked multi-gigabyte download.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxquba.errors import UserError


@dataclasses.dataclass(frozen=True)
class TfdsLayout:
    """Which tfds features make up a source example.

    Attributes:
      label_key: the feature holding the class index (``label``, or ``original_label`` for ReaL/multi-label).
      num_classes: the label space of ``label_key``.
      extras: (tfds feature, extra name) pairs copied into each example; integer sequences become lists of int.
      id_key: the feature with the per-example file name.
    """

    label_key: str = "label"
    num_classes: int = 1000
    extras: tuple[tuple[str, str], ...] = ()
    id_key: str = "file_name"


class TfdsSource:
    """A prepared tfds split as a :class:`jaxquba.data.base.Source`, in the split's stored order."""

    def __init__(self, name: str, tfds_name: str, split: str, layout: TfdsLayout, data_dir: str | None,
                 prepare_hint: str):
        import tensorflow_datasets as tfds

        self.name = name
        self.num_classes = layout.num_classes
        self._layout = layout
        try:
            self._records = tfds.data_source(tfds_name, split=split, data_dir=data_dir, download=False)
        except Exception as e:
            builder = tfds.builder(tfds_name, data_dir=data_dir)
            if not builder.is_prepared():
                raise UserError(f"dataset {name!r} ({tfds_name}) is not prepared in {builder.data_dir}. "
                                f"{prepare_hint}") from e
            if isinstance(e, NotImplementedError):  # prepared as tfrecord, which has no random access
                raise UserError(f"dataset {name!r} is prepared in {builder.data_path} as {builder.info.file_format}, "
                                f"but reading needs array_record. Delete that folder and prepare it again: "
                                f"{prepare_hint}") from e
            raise
        self.fingerprint = _prepared_fingerprint(tfds.builder(tfds_name, data_dir=data_dir), split)
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self._records[index]
        example = {"image": record["image"], "label": int(record[self._layout.label_key]),
                   "id": _as_str(record[self._layout.id_key])}
        for feature, extra in self._layout.extras:
            example[extra] = _as_python(record[feature])
        return example


def _prepared_fingerprint(builder, split: str) -> str:
    """sha256 of the builder's name and version, the split, and the name, size and modification time of each
    prepared file of that split (first 16 hex digits): a re-prepared dataset gets a new fingerprint."""
    import hashlib
    digest = hashlib.sha256(f"{builder.info.full_name}|{builder.info.version}|{split}".encode())
    split_name = split.split("[")[0]
    listing = builder.data_path.iterdir() if builder.data_path.exists() else ()  # absent under tfds's mock data
    for path in sorted(listing, key=lambda p: p.name):
        if f"-{split_name}." in path.name or path.name == "dataset_info.json":
            stat = path.stat()
            digest.update(f"{path.name}\t{stat.length}\t{stat.mtime}\n".encode())
    return digest.hexdigest()[:16]


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_python(value: Any) -> Any:
    """Numpy scalars -> int/bool/float, integer sequences -> list of int (the Source contract's plain values)."""
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        return _as_str(array.item())
    return array.tolist()
