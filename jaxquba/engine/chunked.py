"""Chunked, resumable evaluation through the results store: the examples of a pass are split in fixed chunks, each
chunk's outputs are written atomically per view, and chunks already stored are not recomputed
(:func:`plan_chunks`, :func:`evaluate`); :func:`load_outputs` reads them back in dataset order."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxquba.engine.heads import ViewRequest
from jaxquba.engine.step import Engine, Outputs, Reader, shared_group
from jaxquba.store import OutputEntry


_BASE_FIELDS = ("labels", "example_ids")
_EXTRA_PREFIX = "extra."


def chunk_ranges(num_examples: int, chunk_examples: int) -> list[tuple[int, int]]:
    """[start, stop) of each chunk. Chunk bounds depend only on these two numbers (not on batch size or device
    count), so a run resumed with other settings still finds the chunks stored before."""
    return [(s, min(s + chunk_examples, num_examples)) for s in range(0, num_examples, chunk_examples)]


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """One chunk and the requests still to compute on it (empty: every view is stored already)."""

    start: int
    stop: int
    todo: tuple[ViewRequest, ...]


def plan_chunks(num_examples: int, requests: Sequence[ViewRequest], entries: Mapping[str, OutputEntry], *,
                chunk_examples: int, overwrite: bool = False) -> list[ChunkPlan]:
    """Which views each chunk still needs. Process 0 decides (it owns the store) and every process follows."""
    needed = np.array([[overwrite or not entries[r.view.name].has_chunk(start, stop, r.heads + _BASE_FIELDS)
                        for r in requests] for start, stop in chunk_ranges(num_examples, chunk_examples)], bool)
    # A scan group is computed whole: one view of it missing (a run killed between the writes of a chunk's views)
    # recomputes its companions too, so every view's values come from the program an uninterrupted run compiles
    # (a group of another size is another program, whose floats may differ in the last bit).
    groups = [shared_group(r) for r in requests]
    for row in needed:
        missing = {g for g, n in zip(groups, row) if n and g is not None}
        row |= np.array([g in missing for g in groups], bool)
    if jax.process_count() > 1:
        needed = np.asarray(multihost_utils.broadcast_one_to_all(needed))
    ranges = chunk_ranges(num_examples, chunk_examples)
    return [ChunkPlan(start, stop, tuple(r for r, n in zip(requests, row) if n))
            for (start, stop), row in zip(ranges, needed)]


def evaluate(engine: Engine, reader: Reader, plans: Sequence[ChunkPlan], entries: Mapping[str, OutputEntry], *,
             overwrite: bool = False, progress: Callable[[int], None] | None = None,
             image_size: int | None = None, status: Callable[[str | None], None] | None = None) -> int:
    """Computes every planned chunk and stores it (process 0 writes), one atomic file per chunk and view.

    A run killed at any moment loses at most the chunks in flight; the next run's plan skips the stored ones.
    Returns the number of chunks computed.
    """
    computed = 0
    for plan in plans:
        if not plan.todo:
            continue
        out = engine.run_range(reader, plan.start, plan.stop, plan.todo, progress, image_size, status)
        if jax.process_index() == 0:
            common = {"labels": out.labels, "example_ids": out.example_ids,
                      **{_EXTRA_PREFIX + k: v for k, v in out.extras.items()}}
            for request in plan.todo:
                entries[request.view.name].write_chunk(plan.start, plan.stop,
                                                       {**out.views[request.view.name], **common}, replace=overwrite)
        computed += 1
    return computed


def load_outputs(entries: Mapping[str, OutputEntry], requests: Sequence[ViewRequest], num_examples: int, *,
                 chunk_examples: int) -> Outputs:
    """The stored outputs of ``requests`` on examples [0, num_examples), in dataset order (process 0)."""
    views: dict[str, dict[str, list]] = {r.view.name: {h: [] for h in r.heads} for r in requests}
    base: dict[str, list] = {}
    for start, stop in chunk_ranges(num_examples, chunk_examples):
        for i, request in enumerate(requests):
            chunk = entries[request.view.name].read_chunk(start, stop)
            for head in request.heads:
                views[request.view.name][head].append(chunk[head])
            if i == 0:
                for name in chunk.keys() - set(request.heads):
                    if name in _BASE_FIELDS or name.startswith(_EXTRA_PREFIX):
                        base.setdefault(name, []).append(chunk[name])
    joined = {k: np.concatenate(v) for k, v in base.items()}
    return Outputs(views={v: {h: np.concatenate(parts) for h, parts in heads.items()} for v, heads in views.items()},
                   labels=joined["labels"], example_ids=joined["example_ids"],
                   extras={k[len(_EXTRA_PREFIX):]: v for k, v in joined.items() if k.startswith(_EXTRA_PREFIX)})
