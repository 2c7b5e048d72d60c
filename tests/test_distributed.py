"""Several processes (``jax.distributed`` on localhost, CPU): the same results as one process, each process
reading only its own shard of the examples.

Tolerances as in test_engine.py: discrete outputs equal; floats within 1e-6 (float32 rounding of XLA's CPU kernels
at another per-device batch size).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine_helpers as H
from test_engine import assert_outputs_match
from test_main import REPO, direct_demo_predictions

HELPER = str(Path(__file__).with_name("engine_helpers.py"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_together(commands: list[list[str]], env: dict | None = None) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    try:
        outs = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [subprocess.CompletedProcess(c, p.returncode, o, e) for c, p, (o, e) in zip(commands, procs, outs)]


@pytest.mark.multiprocess
def test_engine_two_processes_equal_one_process(tmp_path):
    out, store = tmp_path / "dist.npz", tmp_path / "store"
    port = _free_port()
    done = _run_together([[sys.executable, HELPER, "distributed", str(out), str(port), "2", str(pid), str(store)]
                          for pid in range(2)])
    assert [d.returncode for d in done] == [0, 0], [d.stderr[-2000:] for d in done]
    assert_outputs_match(dict(np.load(out)), H.reference_outputs())
    # Each process read only its own shard of the examples; together they read each example once.
    read = [set(np.load(f"{out}.read{pid}.npy").tolist()) for pid in range(2)]
    assert read[0] and read[1] and not read[0] & read[1]
    assert read[0] | read[1] == set(range(H.NUM_EXAMPLES))


@pytest.mark.multiprocess
def test_main_demo_on_two_processes(tmp_path):
    """The app under --distributed: process 0 alone writes the store and summary.json, with the same numbers."""
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
    done = _run_together([[sys.executable, "-m", "jaxquba.main", "--demo", "--dimensions=accuracy",
                           f"--output_dir={tmp_path}",
                           "--distributed", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                           f"--process_id={pid}"] for pid in range(2)], env)
    assert [d.returncode for d in done] == [0, 0], [d.stderr[-2000:] for d in done]
    assert "top1@demo" in done[0].stdout and "top1@demo" not in done[1].stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    values = {r["spec"]: r["value"] for r in summary["models"][0]["results"]}
    top5, labels = direct_demo_predictions()
    assert values["top1@demo"] == np.mean(top5[:, 0] == labels)
    [chunk] = (tmp_path / "store" / "outputs").rglob("*.npz")
    stored = np.load(chunk)
    np.testing.assert_array_equal(stored["example_ids"], np.arange(len(labels)))
    np.testing.assert_array_equal(stored["top5"], top5)
