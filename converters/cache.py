"""The converted-parameter cache: orbax checkpoints keyed by (model name, weights digest).

Converting a checkpoint (reading a pickle, transposing every kernel) is done once per weights file; later loads
restore the Flax tree directly. Writes go to a temporary folder beside the final one and are renamed into place, so
an interrupted or concurrent writer never leaves a half-written entry that a reader could pick up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

DEFAULT_CACHE_DIR = Path("~/.cache/jaxquba/params")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$JAXQUBA_CACHE``, else ``~/.cache/jaxquba/params``."""
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
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{digest}-", dir=final.parent))
    try:
        checkpointer = _checkpointer()
        checkpointer.save(staging / "params", jax.tree.map(np.asarray, params))
        checkpointer.wait_until_finished()
        if final.exists():  # a stale or concurrent entry: replace it
            shutil.rmtree(final, ignore_errors=True)
        os.replace(staging / "params", final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def read_checkpoint(path: Path) -> Any:
    """The tree of numpy arrays in an orbax checkpoint folder."""
    return _checkpointer().restore(path.resolve())


def _checkpointer():
    import orbax.checkpoint as ocp
    return ocp.StandardCheckpointer()
