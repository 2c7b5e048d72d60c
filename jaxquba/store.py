"""Results on disk, keyed by canonical spec strings, written atomically so a killed run resumes cleanly.

Every stored thing is named by a *spec*: a dict of fields (model, weights digest, precision, dataset, view,
protocol, seed ...) rendered as one canonical string, ``k1=v1;k2=v2`` with sorted keys. The file name is a short
hash of that string, and ``index.tsv`` at the store root maps hashes back to specs so a person can find things.

Layout under the store root::

    index.tsv                        digest <TAB> kind <TAB> spec, one line per entry (rebuilt atomically,
                                     under a lock, so concurrent runs sharing a store all appear)
    specs/<digest>.json              the fields of each entry
    outputs/<digest>/<start>-<stop>.npz   per-example outputs of examples [start, stop) of one (dataset, view)
    tables/<digest>.parquet          result tables

Per-example outputs are stored in chunks of examples so an interrupted evaluation only loses the chunk it was
computing. Every file is written to a temporary name in the same folder, fsynced, then renamed over the final name
(``os.replace`` is atomic on POSIX), so a reader sees either the whole old file, the whole new one, or nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

_CHUNK_NAME = re.compile(r"^(\d+)-(\d+)\.npz$")


def canonical_spec(fields: Mapping[str, Any]) -> str:
    """``k1=v1;k2=v2`` with sorted keys: the one string that names a result."""
    for key, value in fields.items():
        if any(c in f"{key}{value}" for c in ";\t\n"):
            raise ValueError(f"spec field {key}={value!r} contains a separator character")
    return ";".join(f"{k}={fields[k]}" for k in sorted(fields))


def spec_digest(spec: str) -> str:
    """The stable file-name stem of a spec: the first 20 hex digits of its SHA-256."""
    return hashlib.sha256(spec.encode()).hexdigest()[:20]


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success fsyncs it and renames it over ``path``.

    If the body raises (or the process dies), ``path`` is untouched and only a hidden ``.tmp`` file may remain.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory ``flock`` on ``path`` (created if absent) for the body's duration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


class OutputEntry:
    """The chunked per-example outputs of one spec (one model on one dataset under one view)."""

    def __init__(self, folder: Path, spec: str):
        self.folder = folder
        self.spec = spec

    def chunk_path(self, start: int, stop: int) -> Path:
        return self.folder / f"{start:09d}-{stop:09d}.npz"

    def chunk_fields(self, start: int, stop: int) -> frozenset[str] | None:
        """The array names stored for chunk [start, stop), or None where the chunk is absent."""
        path = self.chunk_path(start, stop)
        if not path.is_file():
            return None
        with np.load(path) as npz:
            return frozenset(npz.files)

    def has_chunk(self, start: int, stop: int, fields: tuple[str, ...]) -> bool:
        """Whether chunk [start, stop) is stored with at least these arrays."""
        stored = self.chunk_fields(start, stop)
        return stored is not None and set(fields) <= stored

    def read_chunk(self, start: int, stop: int) -> dict[str, np.ndarray]:
        with np.load(self.chunk_path(start, stop)) as npz:
            return {name: npz[name] for name in npz.files}

    def write_chunk(self, start: int, stop: int, arrays: Mapping[str, np.ndarray], *, replace: bool = False) -> None:
        """Stores chunk [start, stop). Arrays of an existing chunk that ``arrays`` lacks are kept unless ``replace``
        (an earlier run may have stored outputs another dimension asked for; they are equal by determinism)."""
        n = stop - start
        for name, array in arrays.items():
            if array.shape[:1] != (n,):
                raise ValueError(f"{name}: leading dimension {array.shape[:1]} != chunk length {n}")
        merged = {} if replace or not self.chunk_path(start, stop).is_file() else self.read_chunk(start, stop)
        merged.update(arrays)
        write_npz_atomic(self.chunk_path(start, stop), merged)

    def stored_chunks(self) -> list[tuple[int, int]]:
        if not self.folder.is_dir():
            return []
        found = (_CHUNK_NAME.match(p.name) for p in self.folder.iterdir())
        return sorted((int(m.group(1)), int(m.group(2))) for m in found if m)


class Store:
    """A results folder. Only the writer process (process 0 of a multi-host run) may write."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _register(self, kind: str, fields: Mapping[str, Any]) -> tuple[str, str]:
        spec = canonical_spec(fields)
        digest = spec_digest(spec)
        spec_file = self.root / "specs" / f"{digest}.json"
        if not spec_file.is_file():
            write_json_atomic(spec_file, {"kind": kind, "spec": spec, "fields": {k: str(v) for k, v in fields.items()}})
            self._rebuild_index()
        return spec, digest

    def _rebuild_index(self) -> None:
        # Serialised across processes and threads: each writer lists specs/ *after* writing its own spec, so the
        # last rebuild to take the lock sees every entry. Without it, a rebuild that listed before another run's
        # spec appeared could replace the index written after it, dropping that entry.
        with _exclusive_lock(self.root / ".index.lock"):
            write_bytes_atomic(self.root / "index.tsv", "".join(self._index_lines()).encode())

    def _index_lines(self) -> list[str]:
        lines = []
        for spec_file in sorted((self.root / "specs").glob("*.json")):
            entry = json.loads(spec_file.read_text())
            lines.append(f"{spec_file.stem}\t{entry['kind']}\t{entry['spec']}\n")
        return lines

    def outputs(self, fields: Mapping[str, Any]) -> OutputEntry:
        """The output entry of a spec, registered in the index on first use."""
        spec, digest = self._register("outputs", fields)
        return OutputEntry(self.root / "outputs" / digest, spec)

    def table_path(self, fields: Mapping[str, Any]) -> Path:
        _, digest = self._register("table", fields)
        return self.root / "tables" / f"{digest}.parquet"

    def write_table(self, fields: Mapping[str, Any], table) -> Path:
        """Writes a pandas DataFrame as parquet under its spec; returns the path."""
        path = self.table_path(fields)
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
        return path

    def index(self) -> list[tuple[str, str, str]]:
        """(digest, kind, spec) of every entry."""
        path = self.root / "index.tsv"
        if not path.is_file():
            return []
        return [tuple(line.split("\t")) for line in path.read_text().splitlines()]
