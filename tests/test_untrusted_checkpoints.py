"""Checkpoints are untrusted input: no pickle's code ever runs, and a damaged file is one clear error.

The checkpoints are written here without torch (a small writer of torch.save's two formats), so the tests run in
the torch-free demo install too; where torch is installed, the writer is checked against ``torch.load``.
"""

from __future__ import annotations

import builtins
import collections
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from converters import files
from jaxquba.errors import UserError

LEGACY_RECORDS = ("magic", "protocol", "sys_info", "data", "storage_keys")


class _Global:
    """A module-level name written as a pickle GLOBAL without importing its module (torch need not exist)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce insists that the function be callable
        raise NotImplementedError


class _Tensor:
    """A float32 tensor as torch pickles it: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, np.ascontiguousarray(array, np.float32)

    def __reduce__(self):
        stride = tuple(s // 4 for s in self.array.strides)
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (_StorageRef(self.key, self.array.size), 0, self.array.shape, stride, False, collections.OrderedDict()))


class _StorageRef:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _Payload:
    """Unpickling this calls ``open(marker, 'w')``: the file exists afterwards iff the pickle's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


class _Writer(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, _StorageRef):
            return None
        pid = ("storage", _Global("torch", "FloatStorage"), obj.key, "cpu", obj.numel)
        return pid + (None,) if self.legacy else pid

    def _save_global_name(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[_Global] = _save_global_name


def _pickled(obj, legacy: bool) -> bytes:
    buffer = io.BytesIO()
    _Writer(buffer, legacy).dump(obj)
    return buffer.getvalue()


def write_checkpoint(path, state: dict[str, np.ndarray], *, zip_format: bool, payload_at: str | None = None,
                     marker=None):
    """``state`` as torch.save writes it (zip or legacy); ``payload_at`` replaces that record with a payload."""
    tensors = {name: _Tensor(str(i), a) for i, (name, a) in enumerate(state.items())}
    data = collections.OrderedDict(tensors)
    evil = _Payload(marker)
    if zip_format:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/version", "3\n")
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/data.pkl", _pickled(evil if payload_at == "data" else data, False))
            for t in tensors.values():
                archive.writestr(f"archive/data/{t.key}", t.array.tobytes())
        return path
    records = {"magic": files._LEGACY_MAGIC, "protocol": 1001,
               "sys_info": {"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}},
               "data": data, "storage_keys": [t.key for t in tensors.values()]}
    with open(path, "wb") as f:
        for name in LEGACY_RECORDS:
            f.write(_pickled(evil if name == payload_at else records[name], True))
        for t in tensors.values():
            f.write(struct.pack("<q", t.array.size) + t.array.tobytes())
    return path


STATE = {"w": np.arange(24, dtype=np.float32).reshape(4, 6), "b": np.linspace(-1, 1, 5, dtype=np.float32)}


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_writer_round_trip(tmp_path, zip_format):
    """The test writer makes checkpoints the torch-free reader reads back exactly (and torch too, where present)."""
    path = write_checkpoint(tmp_path / "ok.pth", STATE, zip_format=zip_format)
    got = files.read_torch_file_without_torch(path)
    assert list(got) == list(STATE)
    for name, array in STATE.items():
        np.testing.assert_array_equal(got[name], array)
    try:
        import torch
    except ImportError:
        return
    want = torch.load(path, weights_only=True)
    for name, array in STATE.items():
        np.testing.assert_array_equal(want[name].numpy(), array)


PAYLOAD_CASES = [(True, "data")] + [(False, record) for record in LEGACY_RECORDS]


@pytest.mark.parametrize("zip_format,record", PAYLOAD_CASES,
                         ids=[f"{'zip' if z else 'legacy'}-{r}" for z, r in PAYLOAD_CASES])
def test_no_payload_runs_in_any_record(tmp_path, zip_format, record, monkeypatch):
    """A pickle whose __reduce__ opens a file, in each pickled record of each format: refused, the file is never
    created, the error names the checkpoint. Both the torch-free reader and read_state_dict (torch if installed,
    weights_only=True) are tried."""
    marker = tmp_path / "pwned"
    path = write_checkpoint(tmp_path / "evil.pth", STATE, zip_format=zip_format, payload_at=record, marker=marker)
    for read in (files.read_torch_file_without_torch, files.read_state_dict):
        with pytest.raises(UserError, match=str(path)):
            read(path)
        assert not marker.exists(), f"{read.__name__} ran the payload in the {record} record"


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_truncated_and_fuzzed_torch_checkpoints_are_one_clear_error(tmp_path, zip_format):
    """Every prefix length at 37 cut points, and 40 single-byte corruptions: either the exact tensors come back
    (a corruption in a byte nothing reads, such as zip padding or tensor data) or a UserError naming the file."""
    good = write_checkpoint(tmp_path / "good.pth", STATE, zip_format=zip_format).read_bytes()
    path = tmp_path / "bad.pth"
    rng = np.random.default_rng(0)
    cuts = np.unique(np.linspace(0, len(good) - 1, 37).astype(int))
    flips = rng.integers(0, len(good), 40)
    variants = [good[:c] for c in cuts] + [good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1:] for i in flips]
    errors = 0
    for variant in variants:
        path.write_bytes(variant)
        try:
            got = files.read_torch_file_without_torch(path)
        except UserError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            errors += 1
            continue
        assert isinstance(got, dict)  # a flipped data byte changes values only; the structure is intact
    assert errors >= len(cuts)  # every truncation is refused


def test_random_bytes_safetensors_and_truncated_pth_are_user_errors(tmp_path):
    rng = np.random.default_rng(1)
    st = tmp_path / "random.safetensors"
    st.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="random.safetensors is not a readable checkpoint"):
        files.read_state_dict(st)
    pth = write_checkpoint(tmp_path / "cut.pth", STATE, zip_format=False)
    pth.write_bytes(pth.read_bytes()[:-7])
    with pytest.raises(UserError, match="cut.pth"):
        files.read_state_dict(pth)


def test_tensor_reaching_past_its_storage_is_refused(tmp_path):
    """A size/stride that points outside the stored bytes would make as_strided read foreign memory."""
    path = write_checkpoint(tmp_path / "lying.pth", {"w": np.zeros(4, np.float32)}, zip_format=True)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries["archive/data/0"] = entries["archive/data/0"][:8]  # 2 of the 4 floats
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(UserError, match="reaches element 3 of a storage of 2"):
        files.read_torch_file_without_torch(path)
