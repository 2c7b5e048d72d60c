"""The converted-parameter cache: orbax checkpoints keyed by (model name, weights digest).

Converting a checkpoint (reading a pickle, transposing every kernel) is done once per weights file; later loads
restore the Flax tree directly. Writes go to a temporary folder beside the final one and are renamed into place, so
an interrupted or concurrent writer never leaves a half-written entry that a reader could pick up. The root may be a
remote path (``gs://bucket/params``, etils.epath; orbax reads and writes it), shared by every host of a pod.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import jax
import numpy as np
from etils import epath

Path = epath.Path
DEFAULT_CACHE_DIR = "~/.cache/jaxquba/params"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$JAXQUBA_CACHE``, else ``~/.cache/jaxquba/params`` (local or remote)."""
    if cache_dir is None:
        cache_dir = os.environ.get("JAXQUBA_CACHE") or DEFAULT_CACHE_DIR
    return Path(cache_dir).expanduser()


def entry_path(root: Path, model: str, digest: str) -> Path:
    return root / model / digest


def restore(root: Path, model: str, digest: str, expected: Any) -> Any | None:
    """The cached params for (model, digest) as a tree shaped like ``expected``, or None when absent or stale."""
    path = entry_path(root, model, digest)
    if not path.is_dir():
        return None
    try:
        tree = read_checkpoint(path)
    except Exception:  # a corrupt or foreign entry is a cache miss; the caller converts again and overwrites it
        return None
    want = jax.tree.map(lambda a: (tuple(a.shape), np.dtype(a.dtype)), expected)
    got = jax.tree.map(lambda a: (tuple(np.shape(a)), np.dtype(a.dtype)), tree)
    return tree if got == want else None


def save(root: Path, model: str, digest: str, params: Any) -> Path:
    """Writes ``params`` as the entry for (model, digest), atomically; returns its path."""
    final = entry_path(root, model, digest)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".tmp-{digest}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        checkpointer = _checkpointer()
        checkpointer.save(staging / "params", jax.tree.map(np.asarray, params))
        checkpointer.wait_until_finished()
        if final.exists():  # a stale or concurrent entry: replace it
            with contextlib.suppress(FileNotFoundError):
                final.rmtree()
        (staging / "params").rename(final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.rmtree()
    return final


def read_checkpoint(path: Path) -> Any:
    """The tree of numpy arrays in an orbax checkpoint folder."""
    return _checkpointer().restore(path.resolve() if "://" not in os.fspath(path) else path)


def _checkpointer():
    """A checkpointer of this process alone: the cache holds numpy trees that one process writes or reads, so
    orbax must not wait for the other processes of a multi-host run (they are not saving)."""
    import orbax.checkpoint as ocp
    me = jax.process_index()
    return ocp.StandardCheckpointer(multiprocessing_options=ocp.options.MultiprocessingOptions(
        primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"jaxquba-cache-{me}"))
