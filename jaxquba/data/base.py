"""The source contract: random access to decoded examples in a fixed, deterministic order.

A :class:`Source` is what the engine iterates: ``len(source)`` examples, ``source[i]`` a dict with

  * ``image``: uint8 (H, W, 3) RGB, decoded, **not** yet resized (host preprocessing does that per model),
  * ``label``: int, the class index in the source's label space (``num_classes``; -1 where unknown),
  * ``id``: str, a stable per-example identifier (file name), used to join with external annotations,

plus any source-specific extras (``real_labels``, ``texture_label``, ...). Index ``i`` always means the same example,
which is what lets runs resume and several hosts read disjoint shards.

``fingerprint`` digests what the examples are made of (files, sizes, modification times, a prepared dataset's
version and record files), so results stored under a dataset's name are recomputed once its contents change.
``skipped`` lists (file, reason) of inputs the source left out (undecodable images, duplicate rows).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable


@runtime_checkable
class Source(Protocol):
    name: str  # canonical dataset spec, e.g. "imagenet2012:validation" or "folder:/path"
    num_classes: int
    fingerprint: str
    skipped: list[tuple[str, str]]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
