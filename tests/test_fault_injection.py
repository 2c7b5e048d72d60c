"""Fault injection (issue 18.7): the app's command line, run on several dimensions, SIGKILLed at 20 random moments
and resumed each time, ends with the values and chunk files of an uninterrupted run; the same with two runs sharing
one store (one --output_dir), started together and killed at random moments while both run.

What is killed: ``python -m jaxquba.main`` itself. tests/app_forkserver.py forks it from a process that has done the
imports, so a run starts in a second instead of ten; the child parses the command line and calls the app's ``main``,
which opens the dataset, plans, evaluates chunk by chunk into the store, reduces, and writes the result tables,
summary.json and the report: every step of a run that a kill can interrupt. The run: the tiny registered model
(tests/untrusted_tiny_model.py) with random weights on a folder of 13 photos, dimensions accuracy, class_balance and
views (a corruption, a low-pass filter, FGSM), chunks of 2 examples. That is one pass of 4 views (clean; the two
model-free views, which the step computes together in one lax.scan; FGSM, which calls the model itself), 7 chunks,
28 chunk files. A kill can leave: nothing, spec files without chunks, some chunks, a chunk with only some of its
view files, every chunk without tables or summary; the resumed run must end where an uninterrupted one does.

Kill moments come from a seeded generator (the same on every run of the test). Every other one is uniform over the
duration of an uninterrupted run. The others are drawn in the chunk writing, which is a small share of a run this
small and whose start moves by seconds with the machine's load: the run is killed a random delay (up to one batch's
reading) after it has written a random number of the chunk files still missing (the last chunk's aside), so the
resume path proper is hit whatever the load. Each test requires that at least a quarter of its kills hit the chunk
writing. A run started with at most one chunk left to write is not killed: the round ends with it (its chunk's
files come at once), and the next round starts in a new folder.

Equality is exact: chunk files bit for bit (the same programs on the same inputs; XLA on one thread, see the fork
server), summary.json (its compile timings aside), the result tables (their ``time`` column aside), index.tsv. The
app stores what its dimensions read: top-1 and top-5 classes, and the clean view's probabilities. A kill between the
view files of one chunk is a window of milliseconds; tests/test_store.py makes that state exactly and compares
logits bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

SERVER = str(Path(__file__).with_name("app_forkserver.py"))
KILLS = 20
IMAGES = 13
VIEWS = 4
CHUNK_FILES = VIEWS * 7  # chunks of 2 of 13 examples
MODEL_FREE = ("corrupt(name=gaussian_noise,severity=3)", "lowpass(cutoff=0.5)")
ARGS = ["--model_module=untrusted_tiny_model", "--model=untrusted_tiny.test", "--weights=random",
        "--dimensions=accuracy,class_balance,views", f"--views={','.join(MODEL_FREE)},fgsm(eps=4)",
        "--chunk_examples=2", "--batch_size=2", "--protocol=pixel", "--num_threads=1"]
SLEEP_S = 0.05  # per batch of 2 (7 batches, one per chunk), so that the chunk writes are not over in a blink
CHILD_TIMEOUT_S = 300  # a run that neither ends nor is killed (a hang) fails the test instead of stalling CI


class ForkServer:
    """The client of tests/app_forkserver.py."""

    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self._reply() == "READY"

    def _reply(self) -> str:
        line = self.proc.stdout.readline().strip()
        assert line, "the fork server died"
        return line

    def start(self, log: Path, args: list[str]) -> int:
        self.proc.stdin.write(" ".join(["run", str(log), str(SLEEP_S), *args]) + "\n")
        self.proc.stdin.flush()
        kind, pid = self._reply().split()
        assert kind == "PID"
        return int(pid)

    def wait(self, pid: int, log: Path) -> str:
        self.proc.stdin.write(f"wait {pid} {CHILD_TIMEOUT_S}\n")
        self.proc.stdin.flush()
        kind, status = self._reply().split()
        assert kind == "STATUS" and status != "hung", f"a run hung for {CHILD_TIMEOUT_S} s; its log ends:\n{_tail(log)}"
        return status

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else "(no log)"


def _photos(root: Path, labels: list[int]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(IMAGES):
        image = np.random.default_rng(i).integers(0, 256, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / f"img{i:02d}.png")
    (root / "labels.csv").write_text("file,class_index\n" + "".join(f"img{i:02d}.png,{c}\n"
                                                                    for i, c in enumerate(labels)))
    return root


def _chunk_files(out: Path) -> dict[str, Path]:
    """Every chunk file, by its path under the store's outputs/."""
    outputs = out / "store" / "outputs"
    return {str(p.relative_to(outputs)): p for p in sorted(outputs.rglob("*.npz"))} if outputs.is_dir() else {}


def _ended(pid: int) -> bool:
    """Whether the fork server's child ``pid`` has ended (a zombie until the server reaps it)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _kill(out: Path, plans: dict[int, tuple[float, int]], started: float) -> dict[int, bool]:
    """SIGKILLs each run ``pid`` of ``plans`` (started at ``started``) as ``(delay, files)`` says: ``delay`` seconds
    after its start (``files`` 0), or after the store in ``out`` has gained ``files`` chunk files since the call; not
    at all if it ends first. Returns, per run signalled, whether the store was part-written then (chunk files added
    since the call, not all of them yet): the kill hit the chunk writing."""
    before = len(_chunk_files(out))
    pending, deadlines, part_written = dict(plans), {}, {}
    while pending or deadlines:
        gained, now = len(_chunk_files(out)) - before, time.monotonic()
        for pid, (delay, files) in list(pending.items()):
            if gained >= files:
                deadlines[pid] = (started if files == 0 else now) + delay
                del pending[pid]
            elif _ended(pid):
                del pending[pid]
        for pid, deadline in list(deadlines.items()):
            if _ended(pid):
                del deadlines[pid]
            elif now >= deadline:
                os.kill(pid, signal.SIGKILL)
                part_written[pid] = before < len(_chunk_files(out)) < CHUNK_FILES
                del deadlines[pid]
        time.sleep(0.005)
    return part_written


class Harness:
    """The fork server, the photos, and an uninterrupted reference run (how long it took)."""

    def __init__(self, root: Path):
        self.root = root
        tests = str(Path(__file__).resolve().parent)  # the tiny model's module
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
        self.server = ForkServer(env)
        self.runs = 0
        # A first run fills the compilation cache and says what the model predicts; the photos are then labelled
        # so that 7 of 13 clean predictions are right (no value is a trivial 0 or 1).
        self.data = _photos(root / "warm", [0] * IMAGES)
        self.run(root / "warmup")
        predicted = {}
        for path in _chunk_files(root / "warmup").values():
            with np.load(path) as npz:
                if "top5" in npz.files:  # the clean view (the only one stored with top-5)
                    predicted.update(zip(npz["example_ids"].tolist(), npz["top1"].tolist()))
        self.data = _photos(root / "data", [(predicted[i] + i % 2) % 1000 for i in range(IMAGES)])
        self.reference = root / "reference"
        started = time.monotonic()
        self.run(self.reference)
        self.duration = time.monotonic() - started

    def start(self, out: Path) -> tuple[int, Path]:
        self.runs += 1
        log = self.root / "logs" / f"{self.runs:03d}.log"
        log.parent.mkdir(exist_ok=True)
        return self.server.start(log, [*ARGS, f"--datasets=folder:{self.data}", f"--output_dir={out}",
                                       f"--compilation_cache={self.root / 'xla_cache'}"]), log

    def run(self, out: Path) -> None:
        pid, log = self.start(out)
        assert self.server.wait(pid, log) == "exit0", _tail(log)

    def kill_plan(self, rng: np.random.Generator, k: int, out: Path) -> tuple[float, int] | None:
        """The ``k``-th kill after a start in ``out``: (delay in s, after how many new chunk files), or None when at
        most one chunk is left to write (its files come at once: no part-written state left to reach). Even k: a
        moment uniform over the run (0 files). Odd k: a delay up to one chunk's reading (one batch) after 1 to all
        but the last chunk's files still to write."""
        remaining = CHUNK_FILES - len(_chunk_files(out))
        if remaining <= VIEWS:
            return None
        if k % 2 == 0:
            return rng.uniform(0, self.duration), 0
        return rng.uniform(0, SLEEP_S), int(rng.integers(1, remaining - VIEWS + 1))


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """In memory (/dev/shm) where there is one: the store's fsyncs cost a tenth of a run on disk and are no part of
    what a SIGKILL tests (the killed process's writes stay in the page cache)."""
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="jaxquba_fault_injection_", dir=shm)) if os.access(shm, os.W_OK) else \
        tmp_path_factory.mktemp("fault_injection")
    try:
        h = Harness(root)
        yield h
        h.server.close()
    finally:
        shutil.rmtree(root)


def _assert_chunks_whole(out: Path) -> None:
    """Whatever a kill interrupted, every visible chunk file is whole (writes are atomic)."""
    for path in _chunk_files(out).values():
        with np.load(path) as npz:
            assert npz.files and all(npz[name].shape[0] > 0 for name in npz.files), path


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    tables = sorted((out / "store" / "tables").glob("*.parquet"))
    return {p.name: pd.read_parquet(p).drop(columns="time") for p in tables}


def _summary(out: Path) -> dict:
    """summary.json without its timings (each model's ``compile_seconds``)."""
    summary = json.loads((out / "summary.json").read_text())
    for model in summary["models"]:
        assert isinstance(model.pop("compile_seconds"), list)
    return summary


def _assert_same_as_reference(out: Path, reference: Path) -> None:
    want, got = _chunk_files(reference), _chunk_files(out)
    assert len(want) == CHUNK_FILES and sorted(got) == sorted(want)
    for name, path in want.items():
        with np.load(path) as w, np.load(got[name]) as g:
            assert sorted(g.files) == sorted(w.files), name
            for key in w.files:  # same programs, same inputs: bitwise equal
                assert g[key].dtype == w[key].dtype, f"{name}:{key}"
                np.testing.assert_array_equal(g[key], w[key], err_msg=f"{name}:{key}")
    want_summary, got_summary = (_summary(o) for o in (reference, out))
    [model] = want_summary["models"]
    assert len(model["results"]) == 9 and model["skipped"] == [] and model["warnings"] == []
    assert 0 < next(r["value"] for r in model["results"] if r["name"] == "top1") < 1
    assert got_summary == want_summary  # every value exactly; no warning, nothing skipped
    want_tables, got_tables = _tables(reference), _tables(out)
    assert len(want_tables) == 3 and sorted(got_tables) == sorted(want_tables)
    for name, table in want_tables.items():
        pd.testing.assert_frame_equal(got_tables[name], table, check_exact=True)
    assert (out / "store" / "index.tsv").read_text() == (reference / "store" / "index.tsv").read_text()


def _assert_kills_spread(part_written: list[bool]) -> None:
    """``part_written``: per kill, whether it hit the chunk writing (see :func:`_kill`)."""
    assert sum(part_written) >= KILLS // 4, f"only {sum(part_written)} of {len(part_written)} kills left the store " \
                                            "part-written"


@pytest.mark.multiprocess
def test_app_run_killed_at_20_random_moments_resumes_to_the_uninterrupted_result(harness):
    rng = np.random.default_rng(18)
    part_written, rounds = [], 0
    while len(part_written) < KILLS:  # a round: one output folder, killed until a run completes in it
        out = harness.root / f"round{rounds}"
        while True:
            plan = harness.kill_plan(rng, len(part_written), out) if len(part_written) < KILLS else None
            started = time.monotonic()
            pid, log = harness.start(out)
            hit = _kill(out, {pid: plan}, started) if plan else {}
            status = harness.server.wait(pid, log)
            if status != "killed":
                assert status == "exit0", _tail(log)
                break
            part_written.append(hit[pid])
            _assert_chunks_whole(out)
        _assert_same_as_reference(out, harness.reference)
        rounds += 1
    _assert_kills_spread(part_written)
    print(f"\nan uninterrupted run: {harness.duration:.1f} s; {KILLS} kills in {rounds} rounds, "
          f"{sum(part_written)} hit the chunk writing")


@pytest.mark.multiprocess
def test_two_app_runs_sharing_a_store_killed_at_random_moments(harness):
    """Two runs of one command on one --output_dir, started together, each killed at its own moment, in rounds as
    above: a round's pairs are killed until at most one chunk is left, then a pair runs to its end, both of them."""
    rng = np.random.default_rng(81)
    part_written, pairs, rounds = [], 0, 0
    while len(part_written) < KILLS:
        out = harness.root / f"shared{rounds}"
        while True:
            n = len(part_written)
            kills = [plan for k in range(n, min(n + 2, KILLS)) if (plan := harness.kill_plan(rng, k, out))]
            started = time.monotonic()
            runs = [harness.start(out) for _ in range(2)]
            hit = _kill(out, {pid: plan for (pid, _), plan in zip(runs, kills)}, started)
            statuses = [harness.server.wait(pid, log) for pid, log in runs]
            pairs += 1
            for status, (pid, log) in zip(statuses, runs):
                assert status in ("killed", "exit0"), _tail(log)
                part_written += [hit[pid]] if status == "killed" else []
            _assert_chunks_whole(out)
            if statuses == ["exit0", "exit0"]:
                break
        _assert_same_as_reference(out, harness.reference)
        rounds += 1
    _assert_kills_spread(part_written)
    print(f"\n{KILLS} kills of two runs sharing a store: {pairs} pairs in {rounds} rounds, {sum(part_written)} hit "
          "the chunk writing")
