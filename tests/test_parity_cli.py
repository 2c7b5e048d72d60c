"""The parity command line: a real subprocess, a small model, two images from a folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from converters.parity import parity_metrics

REPO = Path(__file__).resolve().parent.parent


def run_parity_cli(*args, cwd=REPO):
    env = {**os.environ, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
    return subprocess.run([sys.executable, "-m", "converters.parity", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_parity_cli_two_images_json(tmp_path, shared_data, timm_module):
    folder = tmp_path / "images"
    folder.mkdir()
    for source in sorted((shared_data / "imagenet_samples").glob("*.JPEG"))[:2]:
        (folder / source.name).symlink_to(source)
    out = tmp_path / "parity.json"
    result = run_parity_cli("--model=mnv3_large", "--weights=random", f"--images={folder}", f"--json={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"model", "precision", "n_images", "max_abs_logit_diff", "rel_err", "top1_agreement",
                            "top5_agreement"}
    assert metrics["model"] == "mobilenetv3_large_100.ra_in1k" and metrics["n_images"] == 2
    # Same criterion as the family parity tests (float32 both sides: summation-order differences only).
    assert metrics["rel_err"] <= 1e-4
    assert metrics["top1_agreement"] == 1.0 and metrics["top5_agreement"] == 1.0
    assert "max |logit diff|" in result.stdout and "top-5 agreement" in result.stdout


def test_parity_cli_user_errors_have_no_traceback(timm_module):
    result = run_parity_cli("--model=effnet_lite9")
    assert result.returncode == 2
    assert "error: unknown model 'effnet_lite9'" in result.stderr and "effnet_lite0" in result.stderr
    assert "Traceback" not in result.stderr


def test_parity_metrics_definitions():
    torch_logits = np.array([[5.0, 4, 3, 2, 1, 0, -1], [0.0, 1, 2, 3, 4, 5, 6]])
    jax_logits = np.array([[5.0, 4, 3, 2, 1, 0, -1], [0.0, 1, 2, 3, 6.5, 5, -1]])  # row 2: top-1 and top-5 change
    m = parity_metrics(torch_logits, jax_logits)
    assert m["max_abs_logit_diff"] == 7.0
    assert m["rel_err"] == 7.0 / 6
    assert m["top1_agreement"] == 0.5 and m["top5_agreement"] == 0.5
