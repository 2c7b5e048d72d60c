"""The sharded evaluation pass: uint8 batches in, per-example outputs of every view out, in dataset order.

One jitted step per (views, heads) request does everything on the accelerator: uint8 -> float [0, 1], each view of
the batch, the model on each view, and the small per-example *heads* (top-1, top-5, true-class probability, ...)
each view needs. So one host decode serves every view, and only what a metric needs comes back to the host.

Sharding: a mesh with a ``data`` axis (the batch is split over it) and a ``model`` axis (large parameters are split
over it; size 1 by default, i.e. parameters replicated). The global batch is the requested batch size rounded up to
a multiple of the data-axis size and is the same for every step, so the step compiles once; the last batch is
padded and a mask drops the padding rows when outputs come back.

Several hosts (``jax.distributed``): global batch ``k`` of a range covers examples ``start + k*B ... + B``; process
``p`` reads only its contiguous block of them (:func:`jaxquba.data.sharding.process_shard`), pads it to ``B/P``
rows, the global array is assembled with ``jax.make_array_from_process_local_data``, and the outputs are
all-gathered with their example ids and mask, so every process (process 0 writes) holds them in dataset order.

Overlap: the step is dispatched asynchronously; while it runs, the host reads and transfers the next batch, and the
previous step's outputs are copied back.

The heads it computes are registered in :mod:`jaxquba.engine.heads`; :mod:`jaxquba.engine.chunked` runs it chunk by
chunk into the results store.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxquba import protocols
from jaxquba.data.pipeline import HostBatch
from jaxquba.data.sharding import process_shard
from jaxquba.engine.heads import HEADS, HeadInputs, ViewRequest
from jaxquba.models import Classifier
from jaxquba.views.base import ViewContext

DATA_AXIS = "data"
MODEL_AXIS = "model"


# ----------------------------------------------------------------------------------------------------------------
# Mesh and shardings.

def make_mesh(model_axis: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, model) mesh over all devices (of every process); ``model_axis`` devices share each model copy."""
    devices = list(jax.devices() if devices is None else devices)
    if model_axis < 1 or len(devices) % model_axis:
        from jaxquba.errors import UserError
        raise UserError(f"model axis size {model_axis} must divide the device count {len(devices)}")
    grid = np.asarray(devices, dtype=object).reshape(len(devices) // model_axis, model_axis)
    return Mesh(grid, (DATA_AXIS, MODEL_AXIS))


def param_shardings(params: Any, mesh: Mesh, min_split_size: int = 1 << 20) -> Any:
    """Replicated over ``data``; over ``model``, each leaf of at least ``min_split_size`` elements is split along its
    largest axis that the model-axis size divides. XLA's partitioner inserts the collectives, so the numbers do not
    change, only where the parameters live (this is what lets a model larger than one device's memory run)."""
    n_model = mesh.shape[MODEL_AXIS]

    def sharding(leaf):
        shape = np.shape(leaf)
        if n_model == 1 or np.size(leaf) < min_split_size:
            return NamedSharding(mesh, P())
        candidates = [a for a in np.argsort(shape)[::-1] if shape[a] % n_model == 0]
        if not candidates:
            return NamedSharding(mesh, P())
        spec = [None] * len(shape)
        spec[candidates[0]] = MODEL_AXIS
        return NamedSharding(mesh, P(*spec))

    return jax.tree.map(sharding, params)


def put_params(params: Any, shardings: Any) -> Any:
    """Places host (or single-device) parameters on the mesh; every process passes the same values."""
    def put(leaf, sharding):
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
    return jax.tree.map(put, params, shardings)


# ----------------------------------------------------------------------------------------------------------------
# The step.

def make_step(apply: Callable[[Any, jax.Array], jax.Array], requests: Sequence[ViewRequest], *, seed: int,
              mean: Sequence[float], std: Sequence[float]) -> Callable:
    """The per-batch function (unjitted): ``step(params, batch) -> outputs``.

    ``batch`` = ``{"images": uint8 (B,S,S,3), "labels": int32 (B,), "example_ids": int32 (B,), "mask": bool (B,),
    "extras": {name: (B, ...)}}``; ``outputs`` = ``{"views": {view name: {head: (B, ...)}}}`` plus the batch's
    labels, example ids, mask and extras, so a multi-host all-gather returns them aligned with the outputs.
    ``apply`` gives what the protocol treats as logits (:func:`jaxquba.protocols.model_outputs`); probabilities are
    their softmax, so the published double-softmax quirk of probability-output models comes from ``apply``.

    Model-free views that want the same heads are run by one ``lax.scan`` over the views whose body picks the view
    with ``lax.switch`` and then applies the model: the model appears once in the compiled program instead of once
    per view (compile time no longer grows with the number of corruptions), and only one view's activations are
    live at a time. Views that call the model themselves (attacks) are traced one by one.
    """
    requests = tuple(requests)
    shared: dict[tuple[tuple[str, ...], str | None], list[ViewRequest]] = {}
    for request in requests:
        if not request.view.needs_model:
            finish = request.view.finish
            shared.setdefault((request.heads, finish and finish.name), []).append(request)

    def step(params, batch):
        images01 = batch["images"].astype(jnp.float32) / 255.0
        labels = batch["labels"]

        def logits_fn(x):
            return apply(params, x)

        def heads_of(images, heads):
            outputs = logits_fn(images).astype(jnp.float32)
            inputs = HeadInputs(outputs, jax.nn.softmax(outputs, axis=-1), labels)
            return {head: HEADS[head](inputs) for head in heads}

        ctx = ViewContext(batch["example_ids"], labels, seed, logits_fn, tuple(mean), tuple(std))
        per_view = {}
        for (heads, _), group in shared.items():
            if len(group) == 1:
                per_view[group[0].view.name] = heads_of(group[0].view(images01, ctx), heads)
                continue
            branches = [functools.partial(lambda view, x: view.fn(x, ctx).astype(jnp.float32), r.view)
                        for r in group]
            finish = group[0].view.finish

            def one_view(carry, index, branches=branches, heads=heads, finish=finish):
                images = jax.lax.switch(index, branches, images01)
                return carry, heads_of(images if finish is None else finish(images, ctx), heads)

            _, stacked = jax.lax.scan(one_view, None, jnp.arange(len(group)))
            for k, request in enumerate(group):
                per_view[request.view.name] = {head: stacked[head][k] for head in heads}
        for request in requests:
            if request.view.needs_model:
                per_view[request.view.name] = heads_of(request.view(images01, ctx), request.heads)
        passthrough = {k: v for k, v in batch.items() if k != "images"}
        return {"views": {r.view.name: per_view[r.view.name] for r in requests}, **passthrough}

    return step


Reader = Callable[[int, Sequence[int]], Iterable[HostBatch]]
"""``reader(batch_size, indices)`` yields the examples at ``indices``, in that order, ``batch_size`` at a time
(``functools.partial(jaxquba.data.pipeline.host_batches, source, transform)``). Numeric extras with a leading
per-example axis travel with the outputs; string extras (file names) stay with the source."""


@dataclasses.dataclass
class Outputs:
    """Per-example outputs of a range of a dataset (or all of it), in dataset order."""

    views: dict[str, dict[str, np.ndarray]]
    labels: np.ndarray
    example_ids: np.ndarray
    extras: dict[str, np.ndarray]


class Engine:
    """Runs view requests over ranges of a dataset with one classifier on a mesh.

    Args:
      classifier: the model (``apply(params, images01)``).
      mesh: from :func:`make_mesh`; default: every device on the data axis.
      batch_size: requested global batch; rounded up to a multiple of the data-axis size and the process count.
      seed: the run's seed, given to views for their per-example randomness.
      protocol: decides what the views and heads see as the model's logits (:mod:`jaxquba.protocols`).
      min_split_size: see :func:`param_shardings` (only matters with a model axis).
    """

    def __init__(self, classifier: Classifier, *, mesh: Mesh | None = None, batch_size: int = 64, seed: int = 0,
                 protocol: protocols.Protocol = protocols.PROTOCOLS["pixel"], min_split_size: int = 1 << 20):
        self.classifier = classifier
        self.mesh = make_mesh() if mesh is None else mesh
        multiple = int(np.lcm(self.mesh.shape[DATA_AXIS], jax.process_count()))
        self.batch_size = -(-batch_size // multiple) * multiple
        self.local_batch_size = self.batch_size // jax.process_count()
        self.image_size = classifier.spec.data.input_size
        self.seed = seed
        self.protocol = protocol
        self.params = put_params(classifier.params, param_shardings(classifier.params, self.mesh, min_split_size))
        self._batch_sharding = NamedSharding(self.mesh, P(DATA_AXIS))
        self._steps: dict[tuple, Callable] = {}
        self._compiled: set[tuple[int, int]] = set()  # (step, image size) pairs already compiled
        # One record per compiled step: {"views", "image_size", "seconds"}; seconds of the step's first call (trace,
        # compile or load from the persistent cache, dispatch), which is what a user waits before the first batch.
        self.compile_seconds: list[dict[str, Any]] = []

    def _step(self, requests: Sequence[ViewRequest]) -> Callable:
        key = tuple((r.view.name, r.heads) for r in requests)
        if key not in self._steps:
            data = self.classifier.spec.data
            step = make_step(protocols.model_outputs(self.classifier, self.protocol), requests, seed=self.seed,
                             mean=data.mean, std=data.std)
            param_sharding = jax.tree.map(lambda a: a.sharding, self.params)
            self._steps[key] = jax.jit(step, in_shardings=(param_sharding, self._batch_sharding),
                                       out_shardings=self._batch_sharding)
        return self._steps[key]

    def _local_slices(self, start: int, stop: int) -> list[range]:
        """For each global batch of [start, stop), the example indices this process reads (a contiguous block of
        at most ``local_batch_size``; the blocks of all processes, in process order, are the batch)."""
        p, n = jax.process_index(), jax.process_count()
        slices = []
        for first in range(start, stop, self.batch_size):
            block = process_shard(range(first, min(first + self.batch_size, stop)), p, n)
            slices.append(range(int(block[0]), int(block[-1]) + 1) if len(block) else range(0))
        return slices

    def _padded(self, batch: HostBatch | None, extras: Mapping[str, np.ndarray], image_size: int) -> dict:
        """A local batch of exactly ``local_batch_size`` rows: the examples, then masked zero rows."""
        b, s = self.local_batch_size, image_size
        n = 0 if batch is None else len(batch.labels)
        local = {"images": np.zeros((b, s, s, 3), np.uint8), "labels": np.zeros((b,), np.int32),
                 "example_ids": np.full((b,), -1, np.int32), "mask": np.arange(b) < n,
                 "extras": {k: np.zeros((b,) + v.shape[1:], v.dtype) for k, v in extras.items()}}
        if batch is not None:
            local["images"][:n] = batch.images
            local["labels"][:n] = batch.labels
            local["example_ids"][:n] = batch.example_ids
            for k, v in extras.items():
                local["extras"][k][:n] = v
        return local

    def _device_batches(self, reader: Reader, start: int, stop: int, image_size: int) -> Iterator[dict]:
        """The global (sharded) arrays of each batch of [start, stop); this process supplies only its own rows."""
        slices = self._local_slices(start, stop)
        indices = [i for s in slices for i in s]
        batches = iter(reader(self.local_batch_size, indices)) if indices else iter(())
        extras = None
        for expected in slices:
            batch = next(batches) if len(expected) else None
            if batch is not None:
                if not np.array_equal(batch.example_ids, np.asarray(expected)):
                    raise RuntimeError(f"reader returned examples {batch.example_ids[:4]}... instead of {expected}")
                extras = _numeric_extras(batch.extras)
            elif extras is None:
                # This process has no example in the range, but the step still needs the extras' structure.
                extras = {k: v[:0] for k, v in _numeric_extras(next(iter(reader(1, [start]))).extras).items()}
            local = self._padded(batch, extras, image_size)
            yield jax.tree.map(
                lambda x: jax.make_array_from_process_local_data(self._batch_sharding, x,
                                                                 (self.batch_size,) + x.shape[1:]), local)

    def run_range(self, reader: Reader, start: int, stop: int, requests: Sequence[ViewRequest],
                  progress: Callable[[int], None] | None = None, image_size: int | None = None,
                  status: Callable[[str | None], None] | None = None) -> Outputs:
        """Outputs of ``requests`` on examples [start, stop), gathered in dataset order on every process.
        ``image_size``: the side of the reader's images where it is not the model's input size (a pass with its
        own preprocessing). ``status`` is told what the step is doing while it compiles (the first call of a step
        traces and compiles synchronously, often for minutes) and ``None`` when it is done."""
        if not 0 <= start < stop:
            raise ValueError(f"empty range [{start}, {stop})")
        step = self._step(requests)
        size = image_size or self.image_size
        compiling = (id(step), size) not in self._compiled
        gathered: list[dict] = []
        pending = None
        for batch in self._device_batches(reader, start, stop, size):
            if compiling:
                if status is not None:
                    status(f"compiling the step for {len(requests)} view{'s' if len(requests) > 1 else ''}")
                started = time.perf_counter()
            outputs = step(self.params, batch)  # dispatched asynchronously: the next batch is read while it runs
            if compiling:
                self.compile_seconds.append({"views": len(requests), "image_size": size,
                                             "seconds": round(time.perf_counter() - started, 3)})
                self._compiled.add((id(step), size))
                compiling = False
                if status is not None:
                    status(None)
            if pending is not None:
                gathered.append(self._to_host(pending, progress))
            pending = outputs
        gathered.append(self._to_host(pending, progress))
        merged = jax.tree.map(lambda *xs: np.concatenate(xs), *gathered)
        if not np.array_equal(merged["example_ids"], np.arange(start, stop)):
            raise RuntimeError("gathered outputs are not in dataset order")
        return Outputs(views=merged["views"], labels=merged["labels"], example_ids=merged["example_ids"],
                       extras=merged["extras"])

    def _to_host(self, outputs: dict, progress: Callable[[int], None] | None) -> dict:
        if jax.process_count() > 1:
            host = multihost_utils.process_allgather(outputs, tiled=True)
        else:
            host = jax.device_get(outputs)
        keep = host["mask"]
        if progress is not None:
            progress(int(keep.sum()))
        return jax.tree.map(lambda x: x[keep], host)


def _numeric_extras(extras: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The extras that travel through the device with the batch: numeric arrays of fixed per-example shape, as
    int32/float32/bool. Ragged or string metadata (file names, variable-length label sets) stays with the source."""
    out = {}
    for name, value in extras.items():
        array = np.asarray(value)
        if array.ndim == 0 or array.dtype.kind not in "biuf":
            continue
        out[name] = array.astype({"i": np.int32, "u": np.int32, "f": np.float32, "b": bool}[array.dtype.kind])
    return out
