"""The caches of compiled steps: a second checkpoint of the same architecture compiles nothing new (neither cache
gains an entry) and loads its step from jaxquba's executable cache, without tracing; the step was compiled past JAX's
persistent cache (jaxquba.engine.executable_cache.compile_fresh), which holds the app's other jitted functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from test_user_models import USER_MODULE


def _run_app(tmp_path, weights: str, out: str, cache: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # the tiny step compiles fast: store it anyway
    args = [sys.executable, "-m", "jaxquba.main", "--model_module=my_models", "--model=tiny_mine",
            f"--weights={weights}", "--datasets=demo", "--dimensions=accuracy,calibration", "--batch_size=4",
            f"--output_dir={tmp_path / out}", f"--compilation_cache={cache}"]
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_second_checkpoint_of_an_architecture_reuses_the_compiled_step(tmp_path):
    import jax
    import orbax.checkpoint as ocp

    (tmp_path / "my_models.py").write_text(textwrap.dedent(USER_MODULE))
    sys.path.insert(0, str(tmp_path))
    try:
        import my_models
        from jaxquba.models import build_module
        module = build_module(my_models.SPEC)
        for seed in (1, 2):
            params = module.init(jax.random.PRNGKey(seed), np.zeros((1, 64, 64, 3), np.float32))["params"]
            checkpointer = ocp.StandardCheckpointer()
            checkpointer.save(tmp_path / f"weights{seed}", params)
            checkpointer.wait_until_finished()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_models", None)

    cache = tmp_path / "xla"
    _run_app(tmp_path, str(tmp_path / "weights1"), "first", str(cache))
    compiled = {p.name for p in cache.iterdir()}
    assert compiled - {"executables"} and not any(name.startswith("jit_step") for name in compiled), compiled
    executables = {p.name for p in (cache / "executables").iterdir()}
    assert len(executables) == 1
    _run_app(tmp_path, str(tmp_path / "weights2"), "second", str(cache))
    assert {p.name for p in cache.iterdir()} == compiled  # other weights, same programs: nothing new compiled
    summaries = [json.loads((tmp_path / d / "summary.json").read_text())["models"][0] for d in ("first", "second")]
    assert summaries[0]["weights_digest"] != summaries[1]["weights_digest"]
    for summary, loaded in zip(summaries, (False, True)):  # each run records the wait for its step, per pass group
        [record] = summary["compile_seconds"]
        assert (record["dataset"], record["views"], record["image_size"]) == ("demo", 1, 64)
        assert record["seconds"] > 0
        assert record["from_executable_cache"] is loaded  # the second found the user family's step before tracing
    assert {p.name for p in (cache / "executables").iterdir()} == executables

    _run_app(tmp_path, str(tmp_path / "weights1"), "off", "none")
    assert {p.name for p in cache.iterdir()} == compiled


def test_unwritable_cache_folder_is_a_message_not_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    run = subprocess.run([sys.executable, "-m", "jaxquba.main", "--demo", f"--compilation_cache={blocker / 'xla'}",
                          f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "--compilation_cache=" in run.stderr and "Traceback" not in run.stderr
