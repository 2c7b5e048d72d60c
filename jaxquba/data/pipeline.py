"""Host batching: read, decode, resize and crop examples in parallel and yield uint8 batches in a fixed order.

``host_batches(source, transform, batch_size, indices)`` yields :class:`HostBatch` es whose examples are exactly
``source[i] for i in indices``, in that order, ``batch_size`` at a time (the last batch may be shorter; the engine
pads it). It is a grain ``MapDataset`` whose elements are whole batches: grain's read threads (and, optionally,
worker processes) build several batches at once while the order stays that of ``indices``. Threads are the default
because PIL releases the GIL while it decodes and resamples; processes help where the source's Python work
dominates.

Extras (the source's per-example fields beyond image/label/id) become per-example arrays: numbers and booleans
stack to ``(n,)``; integer label lists (ReaL ``real_labels``, multi-label sets) become multi-hot ``(n,
num_classes)`` bool rows, a fixed shape whatever the list lengths; strings stack to a numpy string array.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import grain
from absl import flags
import numpy as np

from jaxquba.data.base import Source

Transform = Callable[[np.ndarray], np.ndarray]


class HostBatch(NamedTuple):
    images: np.ndarray  # uint8 [n, S, S, 3]
    labels: np.ndarray  # int32 [n]
    example_ids: np.ndarray  # int32 [n], the dataset indices
    extras: dict[str, np.ndarray]  # per-example arrays, leading dim n


def default_num_threads() -> int:
    return min(16, os.cpu_count() or 1)


def host_batches(source: Source, transform: Transform, batch_size: int, indices: Sequence[int], *,
                 num_threads: int | None = None, num_processes: int = 0) -> Iterator[HostBatch]:
    """Batches of ``transform(source[i]['image'])`` for ``i`` in ``indices``, in order.

    Args:
      source: the examples.
      transform: uint8 (H, W, 3) -> uint8 (S, S, 3), e.g. :func:`jaxquba.data.preprocess.make_eval_transform`.
      batch_size: examples per batch; the last batch holds the rest.
      indices: the dataset indices to read, in the order to yield them (the engine's resume point and shard).
      num_threads: batches built concurrently per process (default: the CPU count, at most 16).
      num_processes: grain worker processes (0: build batches in this process). Source and transform must pickle.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(indices) == 0:
        return iter(())
    threads = num_threads or default_num_threads()
    batches = grain.MapDataset.source(_Batches(source, transform, batch_size, indices))
    stream = batches.to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=threads))
    if num_processes:
        if not flags.FLAGS.is_parsed():  # grain's workers read absl flags; outside an absl app use their defaults
            flags.FLAGS.mark_as_parsed()
        stream = stream.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_processes))
    return iter(stream)


@dataclasses.dataclass(frozen=True)
class _Batches:
    """A random-access sequence of batches: element ``b`` is the ``b``-th batch of ``indices``."""

    source: Source
    transform: Transform
    batch_size: int
    indices: np.ndarray

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __getitem__(self, b: int) -> HostBatch:
        chunk = self.indices[b * self.batch_size:(b + 1) * self.batch_size]
        examples = [self.source[int(i)] for i in chunk]
        return HostBatch(
            images=np.stack([self.transform(ex["image"]) for ex in examples]),
            labels=np.array([ex["label"] for ex in examples], dtype=np.int32),
            example_ids=chunk.astype(np.int32),
            extras=collate_extras(examples, self.source.num_classes),
        )


def collate_extras(examples: Sequence[dict[str, Any]], num_classes: int) -> dict[str, np.ndarray]:
    """The extras of ``examples`` as per-example arrays (see the module docstring for the rules)."""
    extras = {}
    for key in examples[0].keys() - {"image", "label", "id"}:
        values = [ex[key] for ex in examples]
        if isinstance(values[0], (list, tuple)):
            multi_hot = np.zeros((len(values), num_classes), dtype=bool)
            for row, labels in zip(multi_hot, values):
                row[list(labels)] = True
            extras[key] = multi_hot
        else:
            extras[key] = np.asarray(values)
    return extras
