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

The root may be a remote path (``gs://bucket/run``: etils.epath, where gcsfs or TensorFlow's gfile is installed);
there an object is written whole and then moved over its final name. No file lock is taken anywhere (object
stores and many network file systems have none): the index is rewritten until what a writer wrote is what it then
lists, which leaves every entry in it whoever writes last (see ``Store._rebuild_index``).

A write that fails (disk full, permissions) leaves no partial file and is one :class:`UserError` naming the file; a
chunk that cannot be read back (damaged outside jaxquba) is reported and treated as absent, so it is recomputed.
``identities/<digest>.json`` remembers, per dataset name and weights source, the fingerprint last evaluated, so a
run can say that the data or the weights changed since (the fingerprints are part of every output spec, so changed
inputs are recomputed in any case).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import uuid
import zipfile
from typing import Any, Iterator, Mapping

import numpy as np
from absl import logging
from etils import epath

from jaxquba.errors import UserError

Path = epath.Path

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


def is_local(path) -> bool:
    """Whether ``path`` is on a local (POSIX) file system rather than behind a URI scheme (``gs://``)."""
    return "://" not in os.fspath(path)


_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: os.umask can only be read by setting it


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success it is moved over ``path`` (locally: fsynced, then
    ``os.replace``). Write to it with ``tmp.open("wb")`` (or ``write_bytes``), which works on every file system.

    If the body raises (or the process dies), ``path`` is untouched and only a hidden ``.tmp`` file may remain.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_error(path, e) from None
    if not is_local(path):
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            yield tmp
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(Exception):
                tmp.unlink(missing_ok=True)
            raise
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _write_error(path, e) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; results and reports are shared like any file
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _write_error(path, e) from None
        raise
    _fsync_dir(path.parent)


def _write_error(path, e: OSError) -> UserError:
    return UserError(f"could not write {path} ({e.strerror or e}); nothing was left half-written there. Free disk "
                     "space or fix the folder's permissions, then run the same command again: it resumes")


def _fsync_dir(folder) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_npz_atomic(path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)


class OutputEntry:
    """The chunked per-example outputs of one spec (one model on one dataset under one view)."""

    def __init__(self, folder, spec: str):
        self.folder = folder
        self.spec = spec

    def chunk_path(self, start: int, stop: int) -> Path:
        return self.folder / f"{start:09d}-{stop:09d}.npz"

    def chunk_fields(self, start: int, stop: int) -> frozenset[str] | None:
        """The array names stored for chunk [start, stop), or None where the chunk is absent or unreadable."""
        chunk = self._readable_chunk(start, stop)
        return None if chunk is None else frozenset(chunk)

    def _readable_chunk(self, start: int, stop: int) -> dict[str, np.ndarray] | None:
        """The chunk's arrays; None where it is absent, or damaged (reported: it will be recomputed)."""
        path = self.chunk_path(start, stop)
        if not path.is_file():
            return None
        try:
            return self.read_chunk(start, stop)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as e:
            logging.warning("%s is damaged (%s: %s); recomputing that chunk", path, type(e).__name__, e)
            return None

    def has_chunk(self, start: int, stop: int, fields: tuple[str, ...]) -> bool:
        """Whether chunk [start, stop) is stored with at least these arrays."""
        stored = self.chunk_fields(start, stop)
        return stored is not None and set(fields) <= stored

    def read_chunk(self, start: int, stop: int) -> dict[str, np.ndarray]:
        with self.chunk_path(start, stop).open("rb") as f, np.load(f, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    def write_chunk(self, start: int, stop: int, arrays: Mapping[str, np.ndarray], *, replace: bool = False) -> None:
        """Stores chunk [start, stop). Arrays of an existing chunk that ``arrays`` lacks are kept unless ``replace``
        (an earlier run may have stored outputs another dimension asked for; they are equal by determinism)."""
        n = stop - start
        for name, array in arrays.items():
            if array.shape[:1] != (n,):
                raise ValueError(f"{name}: leading dimension {array.shape[:1]} != chunk length {n}")
        merged = {} if replace else (self._readable_chunk(start, stop) or {})
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
        self.root = Path(root).expanduser()

    def _register(self, kind: str, fields: Mapping[str, Any]) -> tuple[str, str]:
        spec = canonical_spec(fields)
        digest = spec_digest(spec)
        spec_file = self.root / "specs" / f"{digest}.json"
        if not spec_file.is_file():
            write_json_atomic(spec_file, {"kind": kind, "spec": spec, "fields": {k: str(v) for k, v in fields.items()}})
            self._rebuild_index()
        return spec, digest

    def _rebuild_index(self) -> None:
        # Lock-free: each writer lists specs/ *after* writing its own spec, writes the index, and lists again; it
        # writes again until the listing equals what it wrote. Whoever writes last then wrote a listing taken after
        # every spec that exists, so a rebuild that listed before another run's spec appeared and wrote after it
        # cannot leave that entry out. (A lock would need fcntl, which object stores do not have.)
        lines = self._index_lines()
        while True:
            write_bytes_atomic(self.root / "index.tsv", "".join(lines).encode())
            again = self._index_lines()
            if again == lines:
                return
            lines = again

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
        write_bytes_atomic(path, table.to_parquet(index=False))
        return path

    def remember(self, kind: str, key: str, fingerprint: str) -> str | None:
        """Records ``fingerprint`` as the last one of (kind, key) (a dataset name, a weights source) and returns
        the one recorded before, or None the first time."""
        path = self.root / "identities" / f"{spec_digest(f'{kind}:{key}')}.json"
        try:
            previous = json.loads(path.read_text())["fingerprint"] if path.is_file() else None
        except (ValueError, KeyError, OSError):  # damaged: as if never recorded
            previous = None
        if previous != fingerprint:
            write_json_atomic(path, {"kind": kind, "key": key, "fingerprint": fingerprint})
        return previous

    def index(self) -> list[tuple[str, str, str]]:
        """(digest, kind, spec) of every entry."""
        path = self.root / "index.tsv"
        if not path.is_file():
            return []
        return [tuple(line.split("\t")) for line in path.read_text().splitlines()]
