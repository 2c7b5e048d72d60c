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
import os
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxquba import protocols
from jaxquba.errors import UserError
from jaxquba.data.pipeline import HostBatch
from jaxquba.data.sharding import process_shard
from jaxquba.engine import compile_options
from jaxquba.engine.executable_cache import ExecutableCache, step_key, uncacheable_reason
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

def shared_group(request: ViewRequest) -> tuple[tuple[str, ...], str | None] | None:
    """The key of the ``lax.scan`` group :func:`make_step` computes ``request`` in (model-free views wanting the
    same heads and finish); None for a view that calls the model itself and is traced on its own."""
    if request.view.needs_model:
        return None
    finish = request.view.finish
    return request.heads, finish and finish.name


def make_step(apply: Callable[[Any, jax.Array], jax.Array], requests: Sequence[ViewRequest], *, seed: int,
              to_network_input: Callable[[jax.Array], jax.Array],
              apply_network_input: Callable[[Any, jax.Array], jax.Array]) -> Callable:
    """The per-batch function (unjitted): ``step(params, batch) -> outputs``.

    ``batch`` = ``{"images": uint8 (B,S,S,3), "labels": int32 (B,), "example_ids": int32 (B,), "mask": bool (B,),
    "extras": {name: (B, ...)}}``; ``outputs`` = ``{"views": {view name: {head: (B, ...)}}}`` plus the batch's
    labels, example ids, mask and extras, so a multi-host all-gather returns them aligned with the outputs.
    ``apply`` gives what the protocol treats as logits (:func:`jaxquba.protocols.model_outputs`); probabilities are
    their softmax, so the published double-softmax quirk of probability-output models comes from ``apply``.
    ``to_network_input`` and ``apply_network_input`` (the same outputs, on the network input) serve the views that
    perturb the network input (``View.returns_network_input``).

    Model-free views that want the same heads are run by one ``lax.scan`` over the views whose body picks the view
    with ``lax.switch`` and then applies the model: the model appears once in the compiled program instead of once
    per view (compile time no longer grows with the number of corruptions), and only one view's activations are
    live at a time. Views that call the model themselves (attacks) are traced one by one.
    """
    requests = tuple(requests)
    shared: dict[tuple[tuple[str, ...], str | None], list[ViewRequest]] = {}
    for request in requests:
        group = shared_group(request)
        if group is not None:
            shared.setdefault(group, []).append(request)

    def step(params, batch):
        images01 = batch["images"].astype(jnp.float32) / 255.0
        labels = batch["labels"]

        def logits_fn(x):
            return apply(params, x)

        def network_input_logits_fn(z):
            return apply_network_input(params, z)

        def heads_of(images, heads, model=logits_fn):
            outputs = model(images).astype(jnp.float32)
            inputs = HeadInputs(outputs, jax.nn.softmax(outputs, axis=-1), labels)
            return {head: HEADS[head](inputs) for head in heads}

        ctx = ViewContext(batch["example_ids"], labels, seed, logits_fn, to_network_input, network_input_logits_fn)
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
                model = network_input_logits_fn if request.view.returns_network_input else logits_fn
                per_view[request.view.name] = heads_of(request.view(images01, ctx), request.heads, model)
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
      memory_limit_bytes: the memory one device may give a step; default: what the device reports (accelerators),
        none on a CPU. A compiled step that needs more is refused before it runs (:func:`check_step_memory`).
      executable_cache: a folder of compiled steps looked up before tracing
        (:mod:`jaxquba.engine.executable_cache`); None: none (every step is traced, and compiled or loaded from
        JAX's persistent cache where that is on).
    """

    def __init__(self, classifier: Classifier, *, mesh: Mesh | None = None, batch_size: int = 64, seed: int = 0,
                 protocol: protocols.Protocol = protocols.PROTOCOLS["pixel"], min_split_size: int = 1 << 20,
                 memory_limit_bytes: int | None = None, executable_cache: str | os.PathLike | None = None):
        self.classifier = classifier
        self.mesh = make_mesh() if mesh is None else mesh
        self._batch_multiple = int(np.lcm(self.mesh.shape[DATA_AXIS], jax.process_count()))
        self.batch_size = -(-batch_size // self._batch_multiple) * self._batch_multiple
        self.local_batch_size = self.batch_size // jax.process_count()
        self.image_size = classifier.spec.data.input_size
        self.seed = seed
        self.protocol = protocol
        self.params = put_params(classifier.params, param_shardings(classifier.params, self.mesh, min_split_size))
        self._batch_sharding = NamedSharding(self.mesh, P(DATA_AXIS))
        self.memory_limit_bytes = memory_limit_bytes or device_memory_bytes()
        self._steps: dict[tuple, Callable] = {}
        self._executables: dict[tuple, Callable] = {}  # (step, batch structure and shapes) -> its compiled program
        self.executable_cache = None if executable_cache is None else ExecutableCache(executable_cache)
        # One record per compiled step: {"views", "image_size", "seconds", "from_executable_cache",
        # "compiler_options" (:mod:`jaxquba.engine.compile_options`)}; seconds from the
        # step's first call to its program being ready (loaded from the executable cache; or traced, then compiled,
        # or loaded from JAX's persistent cache where the executable cache cannot hold the step), which is what a
        # user waits for before the first batch.
        self.compile_seconds: list[dict[str, Any]] = []

    def _step(self, requests: Sequence[ViewRequest]) -> Callable:
        key = tuple((r.view.name, r.heads) for r in requests)
        if key not in self._steps:
            step = make_step(protocols.model_outputs(self.classifier, self.protocol), requests, seed=self.seed,
                             to_network_input=self.classifier.network_input_fns()[0],
                             apply_network_input=protocols.model_outputs(self.classifier, self.protocol,
                                                                       on_network_input=True))
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
        requests = tuple(requests)
        step = self._step(requests)
        size = image_size or self.image_size
        gathered: list[dict] = []
        pending = None
        for batch in self._device_batches(reader, start, stop, size):
            # A compiled program takes exactly the shapes it was compiled for: datasets whose extras differ (ReaL's
            # label sets, say) need programs of their own, as jit would trace them anew.
            leaves, treedef = jax.tree.flatten(batch)
            key = (id(step), treedef, tuple((leaf.shape, leaf.dtype) for leaf in leaves))
            executable = self._executables.get(key)
            if executable is None:
                executable = self._compile(step, batch, size, requests, status)
                self._executables[key] = executable
            outputs = executable(self.params, batch)  # dispatched asynchronously: the next batch is read meanwhile
            if pending is not None:
                gathered.append(self._to_host(pending, progress))
            pending = outputs
        gathered.append(self._to_host(pending, progress))
        merged = jax.tree.map(lambda *xs: np.concatenate(xs), *gathered)
        if not np.array_equal(merged["example_ids"], np.arange(start, stop)):
            raise RuntimeError("gathered outputs are not in dataset order")
        return Outputs(views=merged["views"], labels=merged["labels"], example_ids=merged["example_ids"],
                       extras=merged["extras"])

    def _compile(self, step, batch: dict, size: int, requests: tuple[ViewRequest, ...],
                 status: Callable[[str | None], None] | None):
        """The compiled ``step`` for ``batch``'s shapes: loaded from the executable cache where it holds it (no
        tracing), else traced and compiled: afresh and stored where the executable cache can hold the step,
        otherwise through JAX's persistent cache (which may load it). Records the seconds, and refuses a program that
        does not fit the device's memory before it runs."""
        views = len(requests)
        if status is not None:
            status(f"compiling the step for {views} view{'s' if views > 1 else ''}")
        started = time.perf_counter()
        args = (self.params, batch)
        key = found = None
        try:
            if self.executable_cache is not None:
                reason = uncacheable_reason(self.classifier, requests)
                if reason is None:
                    key = step_key(self.classifier, requests, protocol=self.protocol, seed=self.seed, args=args,
                                   mesh=self.mesh)
                    found = self.executable_cache.load(key, args, self.mesh)
                else:
                    logging.info("executable cache: not used for this step: %s", reason)
            if found is not None:
                executable, options = found
            else:
                traced = step.trace(*args)
                options = compile_options.compiler_options(traced.jaxpr.jaxpr, self.mesh.devices.flat[0].platform)
                if options:
                    logging.info("compiling the step with XLA options %s (jaxquba.engine.compile_options)", options)
                lowered = traced.lower()
                if key is None:
                    executable = lowered.compile(compiler_options=options or None)
                else:  # compiled afresh, not taken from JAX's persistent cache: see compile_fresh
                    executable = self.executable_cache.compile_and_store(key, lowered, options)
        finally:
            if status is not None:
                status(None)
        self.compile_seconds.append({"views": views, "image_size": size,
                                     "seconds": round(time.perf_counter() - started, 3),
                                     "from_executable_cache": found is not None, "compiler_options": options})
        if self.memory_limit_bytes:
            param_bytes = sum(leaf.addressable_shards[0].data.nbytes for leaf in jax.tree.leaves(self.params))
            check_step_memory(executable.memory_analysis(), limit_bytes=self.memory_limit_bytes,
                              param_bytes=param_bytes, batch_size=self.batch_size,
                              data_parallel=self.mesh.shape[DATA_AXIS], multiple=self._batch_multiple, views=views)
        return executable

    def _to_host(self, outputs: dict, progress: Callable[[int], None] | None) -> dict:
        if jax.process_count() > 1:
            host = multihost_utils.process_allgather(outputs, tiled=True)
        else:
            host = jax.device_get(outputs)
        keep = host["mask"]
        if progress is not None:
            progress(int(keep.sum()))
        return jax.tree.map(lambda x: x[keep], host)


def device_memory_bytes() -> int | None:
    """The memory one local device gives its programs, where it reports it (GPU, TPU); None on a CPU."""
    stats = jax.local_devices()[0].memory_stats()
    return int(stats["bytes_limit"]) if stats and stats.get("bytes_limit") else None


def check_step_memory(memory: Any, *, limit_bytes: int, param_bytes: int, batch_size: int, data_parallel: int,
                      multiple: int, views: int) -> None:
    """Raises UserError when a compiled step needs more than ``limit_bytes`` on one device, naming the largest
    batch size that should fit.

    ``memory``: XLA's ``CompiledMemoryStats`` of the step, per device: its arguments (the parameters, ``param_bytes``
    of them on a device, and the device's ``batch_size / data_parallel`` examples), outputs and temporaries. All but
    the parameters grow in proportion to the examples, so the suggestion scales that part to fit nine tenths of the
    limit (it is XLA's estimate, before the allocator's own overhead), rounded down to ``multiple`` (the engine's
    rounding of batch sizes)."""
    if memory is None:  # a backend without memory analysis
        return
    needed = (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
              - memory.alias_size_in_bytes)
    if needed <= limit_bytes:
        return
    per_example = max(needed - param_bytes, 1) / (batch_size / data_parallel)
    fits = int((0.9 * limit_bytes - param_bytes) // per_example) * data_parallel // multiple * multiple
    advice = (f"use --batch_size={fits} or less" if fits >= multiple else
              "the parameters alone leave no room for a batch: shard them over more devices (--model_axis) or "
              "use --precision=bf16")
    gib = 1 << 30
    raise UserError(f"the step for {views} view{'s' if views > 1 else ''} at --batch_size={batch_size} needs "
                    f"{needed / gib:.2f} GiB of memory on a device (XLA's estimate), more than the "
                    f"{limit_bytes / gib:.2f} GiB it has: {advice}")


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
