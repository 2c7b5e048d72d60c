"""The results store: canonical keys, atomic files, and a SIGKILLed evaluation that resumes without redoing work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine_helpers as H
from jaxquba.engine import Engine, chunk_ranges, evaluate, load_outputs, plan_chunks
from jaxquba.store import Store, atomic_path, canonical_spec, spec_digest, write_json_atomic

HELPER = str(Path(__file__).with_name("engine_helpers.py"))
NUM_CHUNKS = len(chunk_ranges(H.NUM_EXAMPLES, H.CHUNK_EXAMPLES))


def test_canonical_spec_is_order_free_and_digest_stable():
    a = canonical_spec({"model": "resnet50.a1_in1k", "view": "clean", "dataset": "imagenet2012:validation"})
    b = canonical_spec({"dataset": "imagenet2012:validation", "view": "clean", "model": "resnet50.a1_in1k"})
    assert a == b == "dataset=imagenet2012:validation;model=resnet50.a1_in1k;view=clean"
    assert spec_digest(a) == spec_digest(b) and len(spec_digest(a)) == 20
    assert spec_digest(a) != spec_digest(a.replace("clean", "fgsm"))
    with pytest.raises(ValueError):
        canonical_spec({"view": "a;b"})


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half a file")
            raise RuntimeError("killed while writing")
    assert path.read_text() == '{\n  "v": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_atomic_files_get_the_permissions_of_an_ordinary_file(tmp_path):
    """mkstemp makes its file 0600; a finished result or report must be readable as a plainly written one is."""
    path, plain = tmp_path / "summary.json", tmp_path / "plain.json"
    write_json_atomic(path, {"v": 1})
    plain.write_text("{}")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_chunks_merge_heads_and_index_is_readable(tmp_path):
    store = Store(tmp_path)
    fields = {"model": "m", "weights": "abc", "dataset": "d:test", "view": "clean", "protocol": "pixel/1"}
    entry = store.outputs(fields)
    assert entry.chunk_fields(0, 3) is None and not entry.has_chunk(0, 3, ("top1",))
    entry.write_chunk(0, 3, {"top1": np.array([1, 2, 3])})
    entry.write_chunk(0, 3, {"logits": np.ones((3, 4))})
    assert entry.has_chunk(0, 3, ("top1", "logits"))  # an earlier run's heads are kept
    entry.write_chunk(0, 3, {"logits": np.zeros((3, 4))}, replace=True)
    assert entry.chunk_fields(0, 3) == {"logits"}
    with pytest.raises(ValueError):
        entry.write_chunk(3, 5, {"top1": np.arange(3)})
    assert entry.stored_chunks() == [(0, 3)]
    table = store.write_table({"model": "m", "kind": "results"}, pd.DataFrame({"name": ["top1"], "value": [0.5]}))
    pd.testing.assert_frame_equal(pd.read_parquet(table), pd.DataFrame({"name": ["top1"], "value": [0.5]}))
    index = {spec: (digest, kind) for digest, kind, spec in store.index()}
    assert index[canonical_spec(fields)] == (entry.folder.name, "outputs")
    assert index["kind=results;model=m"] == (table.stem, "table")
    assert store.outputs(fields).folder == entry.folder  # same spec, same place


def _complete_chunks(store_dir: Path) -> dict[tuple[int, int], int]:
    """Chunks stored for every view (with all their arrays readable) -> inode of the last view's file."""
    store = Store(store_dir)
    entries = {r.view.name: store.outputs({"view": r.view.name, "test": "store"}) for r in H.requests()}
    done = {}
    for start, stop in chunk_ranges(H.NUM_EXAMPLES, H.CHUNK_EXAMPLES):
        if all(e.has_chunk(start, stop, r.heads) for r, e in zip(H.requests(), entries.values())):
            for e in entries.values():
                e.read_chunk(start, stop)  # every stored file loads completely
            done[(start, stop)] = os.stat(entries["fgsm"].chunk_path(start, stop)).st_ino
    return done


def _run_in_process(store_dir: Path, overwrite: bool = False) -> tuple[int, dict]:
    store = Store(store_dir)
    reqs = H.requests()
    entries = {r.view.name: store.outputs({"view": r.view.name, "test": "store"}) for r in reqs}
    plans = plan_chunks(H.NUM_EXAMPLES, reqs, entries, chunk_examples=H.CHUNK_EXAMPLES, overwrite=overwrite)
    computed = evaluate(Engine(H.tiny_classifier(), batch_size=3), H.make_reader(), plans, entries,
                        overwrite=overwrite)
    return computed, H.flatten(load_outputs(entries, reqs, H.NUM_EXAMPLES, chunk_examples=H.CHUNK_EXAMPLES))


@pytest.mark.multiprocess
def test_sigkill_mid_run_then_resume(tmp_path):
    store_dir = tmp_path / "store"
    # The reader sleeps 0.4 s per batch of 3, so a chunk of 8 examples takes > 1 s: the kill lands mid-run.
    proc = subprocess.Popen([sys.executable, HELPER, "store", str(store_dir), str(tmp_path / "killed.npz"), "0.4"],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while len(_complete_chunks(store_dir)) < 2:
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = _complete_chunks(store_dir)
    assert 2 <= len(finished) < NUM_CHUNKS
    for path in store_dir.rglob("*.npz"):  # whatever the kill interrupted, every visible file is whole
        with np.load(path) as npz:
            assert {name: npz[name].shape for name in npz.files}

    resumed = subprocess.run([sys.executable, HELPER, "store", str(store_dir), str(tmp_path / "resumed.npz"), "0"],
                             capture_output=True, text=True, check=True, timeout=300).stdout
    missing = NUM_CHUNKS - len(finished)
    assert f"PLANNED {missing}\n" in resumed and f"COMPUTED {missing}\n" in resumed
    # The chunks finished before the kill were not rewritten.
    after = _complete_chunks(store_dir)
    assert {k: after[k] for k in finished} == finished and len(after) == NUM_CHUNKS

    computed, uninterrupted = _run_in_process(tmp_path / "fresh")
    assert computed == NUM_CHUNKS
    resumed_outputs = dict(np.load(tmp_path / "resumed.npz"))
    assert sorted(resumed_outputs) == sorted(uninterrupted)
    for key, value in uninterrupted.items():  # same program, same inputs: bitwise equal
        np.testing.assert_array_equal(resumed_outputs[key], value, err_msg=key)

    # --overwrite recomputes every chunk, to the same values.
    computed, overwritten = _run_in_process(store_dir, overwrite=True)
    assert computed == NUM_CHUNKS
    for key, value in uninterrupted.items():
        np.testing.assert_array_equal(overwritten[key], value, err_msg=key)


def test_a_kill_between_the_view_files_of_a_chunk_resumes_bit_exact(tmp_path):
    """A run killed right after chunk [8, 16)'s noise file was written (darken and fgsm not yet): noise and darken are
    computed together by one lax.scan, so the resumed run computes the pair again, not darken alone. Darken alone is
    another program, whose logits differ from the pair's by 2.4e-7 (seen on CPU); the resumed values must equal an
    uninterrupted run's bit for bit."""
    _, uninterrupted = _run_in_process(tmp_path / "fresh")
    store = Store(tmp_path / "fresh")
    reqs = H.requests()
    entries = {r.view.name: store.outputs({"view": r.view.name, "test": "store"}) for r in reqs}
    for view in ("darken", "fgsm"):  # evaluate writes a chunk's views in the order of the requests
        entries[view].chunk_path(8, 16).unlink()
    plans = plan_chunks(H.NUM_EXAMPLES, reqs, entries, chunk_examples=H.CHUNK_EXAMPLES)
    assert [[r.view.name for r in p.todo] for p in plans] == [[], ["noise", "darken", "fgsm"], [], [], []]
    computed, resumed = _run_in_process(tmp_path / "fresh")
    assert computed == 1 and sorted(resumed) == sorted(uninterrupted)
    for key, value in uninterrupted.items():  # same program, same inputs: bitwise equal
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_concurrent_registrations_all_reach_the_index(tmp_path, monkeypatch):
    """Two runs sharing a store register new specs at the same moment: the first lists specs/ and stalls before it
    writes the index; the second registers meanwhile. Both entries must end up in index.tsv (without the store's
    write-then-list-again loop, the first run's late write replaces the second's index and drops its entry)."""
    store = Store(tmp_path)
    listed, resume = threading.Event(), threading.Event()
    original = Store._index_lines

    def stalling(self):
        lines = original(self)
        if threading.current_thread().name == "first" and not resume.is_set():
            listed.set()
            resume.wait(timeout=10)
        return lines

    monkeypatch.setattr(Store, "_index_lines", stalling)
    first = threading.Thread(target=store.outputs, args=({"model": "a"},), name="first")
    first.start()
    assert listed.wait(timeout=10)
    second = threading.Thread(target=store.outputs, args=({"model": "b"},), name="second")
    second.start()
    second.join(timeout=0.5)  # lock-free: it finishes here, and the first run's late write must not drop it
    resume.set()
    first.join(timeout=10), second.join(timeout=10)
    assert sorted(spec for _, _, spec in store.index()) == ["model=a", "model=b"]
