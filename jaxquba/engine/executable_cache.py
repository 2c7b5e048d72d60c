"""Compiled steps on disk, found *before* tracing: a second checkpoint of an architecture, or a rerun, starts its
first batch without tracing, lowering or compiling the step.

JAX's persistent compilation cache (:mod:`jaxquba.compilation_cache`) is keyed by the lowered program, so it is
consulted only after the step has been traced and lowered; for a step of 75 corruption views that alone is about a
quarter of the cold compile on a CPU (bench/RESULTS.md, "Compile once"). This cache is keyed instead by everything
the program is made of, known without tracing:

* the model: its family and config, the mean/std it normalises with and whether its reference wrapper normalises
  inside, what its peer returned (``spec.output``), the precision and the outputs
  (:func:`jaxquba.models.program_identity`), but never the weights: parameters are
  arguments of the step, so every checkpoint of one architecture shares its programs;
* the protocol, the seed, the views' canonical spec strings and their heads, in order;
* the structure, shapes, dtypes and shardings of the step's arguments (parameters and batch), the mesh, the device
  kind and count, the process count;
* the versions of jax, jaxlib and the libraries that run while the step is traced (flax, numpy, scipy, OpenCV and
  ``imagecorruptions``, whose frost images become constants of the program), JAX's tracing configuration and
  ``XLA_FLAGS``;
* a digest of jaxquba's source code and of every source file outside it that builds part of the program (a
  ``--model_module`` family, its input encoding, a registered head or view kind), so any change of code misses.

A step is cached only where that list determines it: the classifier's functions come from
:func:`jaxquba.models.make_network_fns`, every view is the one its spec string parses back to, and the run has one
process. Otherwise the engine compiles as before (with JAX's persistent cache).

A step this cache will hold is compiled with JAX's persistent cache off (:func:`compile_fresh`): an executable that
cache serves is a deserialised one, and on XLA:CPU such an executable serialises without its compiled code.

An entry is one file, ``<folder>/<sha256 of the key>.exe``, written atomically: a header line with the key (checked
on load, so a hash collision is a miss), the XLA options the step was compiled with
(:mod:`jaxquba.engine.compile_options`) and the payload's SHA-256, the output tree, then the executable as JAX
serialises it (:mod:`jax.experimental.serialize_executable`: a pickle). The pickle is read by
:class:`RestrictedUnpickler`, which admits only the classes a JAX executable is made of (:data:`ALLOWED_GLOBALS`).
A truncated, corrupt or incompatible entry is a miss: the step is compiled and the entry rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import io
import json
import os
import pickle
import threading
from pathlib import Path
from typing import Any, Sequence

import jax
from absl import logging
from jax.experimental import serialize_executable

from jaxquba import models
from jaxquba.engine.heads import HEADS, ViewRequest
from jaxquba.store import write_bytes_atomic
from jaxquba.views import registry

FORMAT = b"jaxquba-executable/2\n"
SUFFIX = ".exe"

# Distributions whose code runs while a step is traced (their results become part of the program).
TRACE_TIME_LIBRARIES = ("jax", "jaxlib", "flax", "numpy", "scipy", "opencv-python", "opencv-python-headless",
                        "imagecorruptions")

# JAX options that change what a trace produces.
TRACE_CONFIG = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion", "jax_numpy_dtype_promotion",
                "jax_threefry_partitionable", "jax_default_prng_impl", "jax_softmax_custom_jvp",
                "jax_use_shardy_partitioner")

# Every global a serialised JAX executable names (jax 0.10 on CPU and on accelerators: the unloaded executable, its
# argument avals and shardings, the mesh and its devices, layouts, debug info). Nothing else is imported or called
# while an entry is read; a new jax version that needs more fails to load (a miss) until this list is extended.
ALLOWED_GLOBALS = frozenset({
    ("jax._src.interpreters.pxla", "UnloadedMeshExecutable"),
    ("jax._src.interpreters.pxla", "AllArgsInfo"),
    ("jax._src.stages", "ArgInfo"),
    ("jax._src.core", "ShapedArray"),
    ("jax._src.core", "ManualAxisType"),
    ("jax._src.core", "MemorySpace"),
    ("jax._src.named_sharding", "_unpickle_named_sharding"),
    ("jax._src.mesh", "Mesh"),
    ("jax._src.mesh", "AbstractMesh"),
    ("jax._src.mesh", "AbstractDevice"),
    ("jax._src.mesh", "AxisType"),
    ("jax._src.layout", "Layout"),
    ("jax._src.linear_util", "DebugInfo"),
    ("jax", "P"),
    ("jaxlib._jax", "DeviceList"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.multiarray", "_reconstruct"),
})


class RestrictedUnpickler(serialize_executable._JaxPjrtUnpickler):
    """JAX's unpickler of executables (devices and compiled code come back through its persistent ids) that
    refuses every global outside :data:`ALLOWED_GLOBALS`, so an entry cannot make the loader import or call
    anything else (``os.system``, say)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cached executable")
        return super().find_class(module, name)


def _file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=None)
def jaxquba_source_digest() -> str:
    """SHA-256 over every file of the jaxquba package (path and content): any change of its code misses."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    versions = []
    for name in TRACE_TIME_LIBRARIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


def _source_of(fn: Any) -> str | None:
    """The SHA-256 of the file defining ``fn``, or None where there is no such file (a REPL, a builtin)."""
    try:
        path = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        return None
    return _file_digest(path) if path and os.path.isfile(path) else None


def uncacheable_reason(classifier: Any, requests: Sequence[ViewRequest]) -> str | None:
    """Why the step of ``classifier`` and ``requests`` cannot be cached (its parts are not named by the key), or
    None where it can."""
    if jax.process_count() > 1:
        return "several processes (each compiles; JAX's persistent cache still serves them)"
    if models.program_identity(classifier) is None:
        return "the classifier's functions were not made by jaxquba.models.make_network_fns"
    for request in requests:
        try:
            same = registry.parse(request.view.name).name == request.view.name
        except Exception:  # any failure to rebuild it means the name does not determine the view
            same = False
        if not same:
            return f"view {request.view.name!r} is not the view its spec string parses to"
    return None


def step_key(classifier: Any, requests: Sequence[ViewRequest], *, protocol: Any, seed: int, args: Any,
             mesh: jax.sharding.Mesh) -> dict[str, Any]:
    """The key of the compiled step (a JSON-able dict): everything the program is made of but the weights' values.
    ``args``: the step's arguments ``(params, batch)`` (their structure, shapes, dtypes and shardings count)."""
    identity = models.program_identity(classifier)
    leaves, treedef = jax.tree.flatten(args)
    family = models.family(identity["family"])
    sources = {"jaxquba": jaxquba_source_digest(), "family": _source_of(family.build),
               "input encoding": family.input_encoding and _source_of(family.input_encoding)}
    for request in requests:
        sources.update({f"head {head}": _source_of(HEADS[head]) for head in request.heads})
        maker = registry.maker(request.view.name)
        if maker is not None:
            sources[f"view {request.view.name.partition('(')[0]}"] = _source_of(maker)
    devices = mesh.devices.flat
    return {
        "model": identity,
        "protocol": protocol.spec,
        "seed": seed,
        "views": [[r.view.name, list(r.heads)] for r in requests],
        "args": {"tree": str(treedef),
                 "leaves": [[list(x.shape), str(x.dtype), repr(x.sharding)] for x in leaves]},
        "mesh": {"shape": dict(mesh.shape), "devices": [[d.platform, d.device_kind, d.id] for d in devices],
                 "processes": jax.process_count(), "platform_version": mesh.devices.flat[0].client.platform_version},
        "libraries": dict(_library_versions()),
        "jax_config": {name: str(getattr(jax.config, name)) for name in TRACE_CONFIG},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "sources": sources,
    }


class ExecutableCache:
    """Compiled steps in ``folder``, by :func:`step_key`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()

    def path(self, key: dict[str, Any]) -> Path:
        text = json.dumps(key, sort_keys=True)
        return self.folder / (hashlib.sha256(text.encode()).hexdigest() + SUFFIX)

    def load(self, key: dict[str, Any], args: Any,
             mesh: jax.sharding.Mesh) -> tuple[jax.stages.Compiled, dict[str, str]] | None:
        """The compiled step of ``key``, ready to call with arguments like ``args``, and the XLA options it was
        compiled with; None where there is no entry or it cannot be used (truncated, corrupt, refused by the
        restricted loader, made by another jax): the caller compiles and stores it again."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            logging.warning("executable cache: cannot read %s (%s); compiling", path, e)
            return None
        try:
            return _decode(data, key, args, mesh)
        except Exception as e:  # every defect of an entry is a miss; the rewrite replaces it
            logging.warning("executable cache: %s is unusable (%s: %s); compiling it again", path.name,
                            type(e).__name__, e)
            return None

    def compile_and_store(self, key: dict[str, Any], lowered: jax.stages.Lowered,
                          compiler_options: dict[str, str] | None = None) -> jax.stages.Compiled:
        """``lowered`` compiled afresh with ``compiler_options`` (:func:`compile_fresh`: the only executable that
        serialises whole) and written under ``key``."""
        compiled = compile_fresh(lowered, compiler_options)
        self._store(key, compiled, compiler_options or {})
        return compiled

    def _store(self, key: dict[str, Any], compiled: jax.stages.Compiled, compiler_options: dict[str, str]) -> None:
        """Writes ``compiled`` under ``key`` (atomically); a warning, nothing more, where it cannot be serialised or
        written (the run goes on: the cache only saves time)."""
        try:
            payload, _, out_tree = serialize_executable.serialize(compiled)
            out_tree_bytes = out_tree.serialize_using_proto()
        except Exception as e:
            logging.warning("executable cache: the step cannot be serialised (%s: %s); not cached", type(e).__name__, e)
            return
        header = {"key": key, "compiler_options": compiler_options, "out_tree_bytes": len(out_tree_bytes),
                  "payload_sha256": hashlib.sha256(payload).hexdigest()}
        data = FORMAT + json.dumps(header, sort_keys=True).encode() + b"\n" + out_tree_bytes + payload
        try:
            write_bytes_atomic(self.path(key), data)
        except Exception as e:  # a full disk or a read-only folder costs the next run a compile, nothing more
            logging.warning("executable cache: cannot write %s (%s); not cached", self.path(key), e)


_FRESH_COMPILE_LOCK = threading.Lock()


def compile_fresh(lowered: jax.stages.Lowered, compiler_options: dict[str, str] | None = None) -> jax.stages.Compiled:
    """``lowered`` compiled by XLA (with ``compiler_options``), never loaded from JAX's persistent compilation
    cache.

    Why: on a hit, JAX's persistent cache returns an executable it *deserialised*, and an XLA:CPU executable that was
    deserialised serialises again without the object code of its kernels (jaxlib 0.10.2: the fresh executable's
    payload holds one ELF object per codegen module, the re-serialised one none). Stored, such an entry loads
    without complaint and its first call fails with ``NOT_FOUND: Function <kernel> not found``: the failure the
    first version of this cache was reverted for (2d89785; bench/RESULTS.md, "Compile once"). So JAX's cache is
    turned off around this compile. It sets itself up once per process, so it is reset before (to see it off) and
    after (to come back on); a compile in another thread meanwhile goes without it, slower but right. The program
    is then not written to JAX's cache either: the executable cache holds it.

    ``lowered`` must come from a function this process has not compiled before (the engine's step is a new function
    per engine, compiled once per shape): JAX's in-memory cache would hand back the earlier executable, fresh or
    not.
    """
    from jax.experimental.compilation_cache import compilation_cache as jax_cache
    with _FRESH_COMPILE_LOCK:  # two at once: one's restore must not turn the cache back on under the other
        enabled = jax.config.jax_enable_compilation_cache
        jax.config.update("jax_enable_compilation_cache", False)
        jax_cache.reset_cache()
        try:
            return lowered.compile(compiler_options=compiler_options or None)
        finally:
            jax.config.update("jax_enable_compilation_cache", enabled)
            jax_cache.reset_cache()


def _decode(data: bytes, key: dict[str, Any], args: Any,
            mesh: jax.sharding.Mesh) -> tuple[jax.stages.Compiled, dict[str, str]]:
    """An entry's bytes -> the loaded executable and its compile options; raises on any defect."""
    if not data.startswith(FORMAT):
        raise ValueError("not an entry of this format")
    header_line, newline, rest = data[len(FORMAT):].partition(b"\n")
    if not newline:
        raise ValueError("truncated header")
    header = json.loads(header_line)
    if header["key"] != json.loads(json.dumps(key)):
        raise ValueError("the entry was written for another key")
    out_tree_bytes, payload = rest[:header["out_tree_bytes"]], rest[header["out_tree_bytes"]:]
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise ValueError("payload checksum mismatch")
    out_tree = jax.tree_util.PyTreeDef.deserialize_using_proto(jax.tree_util.default_registry, out_tree_bytes)
    devices = list(mesh.devices.flat)
    backend = devices[0].client
    # jax.experimental.serialize_executable.deserialize_and_load, with the restricted unpickler.
    unloaded, args_info_flat, no_kwargs = RestrictedUnpickler(io.BytesIO(payload), backend, devices).load()
    in_tree = jax.tree.structure((tuple(args), {}))
    return (jax.stages.Compiled(unloaded.load(), [], in_tree.unflatten(args_info_flat), out_tree,
                                no_kwargs=no_kwargs), dict(header["compiler_options"]))
