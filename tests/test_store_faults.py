"""The store under faults: a full disk, a damaged chunk, remembered input fingerprints."""

from __future__ import annotations

import errno
import logging

import numpy as np
import pytest

from jaxquba import store as store_module
from jaxquba.errors import UserError
from jaxquba.store import Store


def _arrays(n, value=1.0):
    return {"logits": np.full((n, 3), value, np.float32), "labels": np.arange(n, dtype=np.int32)}


def test_disk_full_while_writing_a_chunk_leaves_nothing_half_written(tmp_path, monkeypatch):
    entry = Store(tmp_path).outputs({"view": "clean"})
    entry.write_chunk(0, 4, _arrays(4))
    before = entry.chunk_path(0, 4).read_bytes()
    real_savez = np.savez

    def savez_then_disk_full(f, **arrays):
        real_savez(f, **arrays)  # some bytes reach the temporary file, then the device is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.np, "savez", savez_then_disk_full)
    for start, stop in ((0, 4), (4, 8)):  # replacing a stored chunk, and writing a new one
        with pytest.raises(UserError) as info:
            entry.write_chunk(start, stop, _arrays(4, 2.0), replace=True)
        message = str(info.value)
        assert str(entry.chunk_path(start, stop)) in message and "No space left on device" in message
        assert "nothing was left half-written" in message and "\n" not in message
    assert entry.chunk_path(0, 4).read_bytes() == before  # the old chunk is intact
    assert not entry.chunk_path(4, 8).exists()
    assert [p.name for p in entry.folder.iterdir()] == [entry.chunk_path(0, 4).name]  # no temporary file remains


def test_unwritable_store_folder_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError, match="could not write"):
        store_module.write_bytes_atomic(tmp_path / "file" / "x.json", b"{}")


def test_damaged_chunk_is_reported_and_recomputed(tmp_path, caplog):
    entry = Store(tmp_path).outputs({"view": "clean"})
    entry.write_chunk(0, 4, _arrays(4))
    path = entry.chunk_path(0, 4)
    path.write_bytes(path.read_bytes()[:40])  # truncated by something outside jaxquba
    with caplog.at_level(logging.WARNING):
        assert not entry.has_chunk(0, 4, ("logits", "labels"))  # so the engine's plan recomputes it
    assert f"{path} is damaged" in caplog.text and "recomputing that chunk" in caplog.text
    entry.write_chunk(0, 4, _arrays(4, 3.0))  # merging with the damaged file starts afresh
    np.testing.assert_array_equal(entry.read_chunk(0, 4)["logits"], np.full((4, 3), 3.0, np.float32))


def test_remember_returns_the_previous_fingerprint(tmp_path):
    store = Store(tmp_path)
    assert store.remember("dataset", "folder:/x", "aaa") is None
    assert store.remember("dataset", "folder:/x", "aaa") == "aaa"
    assert store.remember("dataset", "folder:/x", "bbb") == "aaa"
    assert store.remember("weights", "folder:/x", "ccc") is None  # kinds are separate
    assert Store(tmp_path).remember("dataset", "folder:/x", "bbb") == "bbb"
