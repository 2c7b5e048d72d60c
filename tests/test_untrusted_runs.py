"""The app with untrusted inputs: changed data or weights are recomputed and named, bad images are left out and
listed (or refused with --strict_data), labels outside the model's classes, output folders that cannot be written,
non-finite outputs, and a run that evaluates nothing exits non-zero. A tiny registered model keeps each run short."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

import untrusted_tiny_model  # noqa: F401  (registers the model)
from jaxquba.app.printing import summary_table
from jaxquba.app.running import run
from jaxquba.errors import UserError
from jaxquba.models import build_module

TESTS = Path(__file__).resolve().parent
MODEL = untrusted_tiny_model.SPEC.name


def _photo(seed, size=(40, 30)):
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _folder(root: Path, labels: dict[str, int], extra_files: dict[str, bytes] = {}) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(labels):
        if name not in extra_files:
            Image.fromarray(_photo(i)).save(root / name)
    for name, data in extra_files.items():
        (root / name).write_bytes(data)
    (root / "labels.csv").write_text("file,class_index\n" + "".join(f"{f},{c}\n" for f, c in labels.items()))
    return root


def _settings(folder: Path, out: Path, **changes):
    fields = dict(model=[MODEL], weights="random", dimensions=["accuracy"], datasets=[f"folder:{folder}"],
                  data_dir=None, batch_size=4, precision="fp32", max_examples=0, output_dir=str(out), overwrite=False,
                  seed=0, protocol="pixel", chunk_examples=4, model_axis=1, num_threads=2, strict_data=False)
    assert set(changes) <= set(fields)
    return types.SimpleNamespace(**{**fields, **changes})


def _values(summary) -> dict[str, float]:
    [model] = summary["models"]
    return {r["name"]: r["value"] for r in model["results"]}


def _save_weights(path: Path, scale: float, nan: bool = False) -> Path:
    import orbax.checkpoint as ocp
    shutil.rmtree(path, ignore_errors=True)
    params = build_module(untrusted_tiny_model.SPEC).init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3)))["params"]
    params = jax.tree.map(lambda a: np.asarray(a) * scale, params)
    if nan:
        params["Dense_0"]["bias"][3] = np.nan
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, params)
    checkpointer.wait_until_finished()
    return path


def _stored_top1(out: Path) -> dict[int, int]:
    """Example index -> top-1 class, from the store's chunks of the one output entry."""
    top1 = {}
    for chunk in sorted((out / "store" / "outputs").rglob("*.npz")):
        with np.load(chunk) as npz:
            top1.update(zip(npz["example_ids"].tolist(), npz["top1"].tolist()))
    return top1


def test_changed_labels_are_recomputed_with_a_line_saying_so(tmp_path, caplog):
    names = [f"img{i}.png" for i in range(6)]
    folder = _folder(tmp_path / "data", dict.fromkeys(names, 0))
    out = tmp_path / "out"
    first = run(_settings(folder, out))
    predictions = _stored_top1(out)
    assert _values(first)["top1"] == np.mean([predictions[i] == 0 for i in range(6)])
    # Every label becomes the class the model predicts: top-1 must now be 1.0, not the stored value.
    _folder(folder, {n: predictions[i] for i, n in enumerate(names)})
    second = run(_settings(folder, out))
    assert _values(second)["top1"] == 1.0
    [line] = second["models"][0]["warnings"]
    assert line.startswith(f"dataset folder:{folder.resolve()} changed since results were last stored")
    assert line in caplog.text
    assert run(_settings(folder, out))["models"][0]["warnings"] == []  # unchanged now: no line


def test_replaced_weights_under_the_same_path_are_recomputed_with_a_line(tmp_path):
    folder = _folder(tmp_path / "data", {f"img{i}.png": i for i in range(4)})
    weights = _save_weights(tmp_path / "weights", 1.0)
    out = tmp_path / "out"
    first = run(_settings(folder, out, weights=str(weights)))
    _save_weights(weights, -3.0)
    second = run(_settings(folder, out, weights=str(weights)))
    assert first["models"][0]["weights_digest"] != second["models"][0]["weights_digest"]
    [line] = second["models"][0]["warnings"]
    assert line.startswith(f"weights {MODEL}:{weights} changed since results were last stored")
    assert len(list((out / "store" / "outputs").iterdir())) == 2  # a second entry, the first one kept


def test_bad_images_are_left_out_and_listed_or_refused_when_strict(tmp_path):
    jpeg = io.BytesIO()
    Image.fromarray(_photo(9, (64, 48))).save(jpeg, "JPEG")
    labels = {"a.png": 1, "b.png": 2, "cut.jpg": 3, "empty.jpg": 4, "c.png": 5}
    folder = _folder(tmp_path / "data", labels, {"cut.jpg": jpeg.getvalue()[:300], "empty.jpg": b""})
    summary = run(_settings(folder, tmp_path / "out"))
    name = f"folder:{folder.resolve()}"
    info = summary["datasets"][name]
    assert info["examples"] == 3 and [r["file"] for r in info["left_out"]] == ["cut.jpg", "empty.jpg"]
    assert all("cannot be decoded" in r["reason"] for r in info["left_out"])
    [model] = summary["models"]
    assert {r["name"] for r in model["results"]} >= {"top1"} and model["results"][0]["examples"] == {name: 3}
    table = summary_table(summary)
    assert f"{name}: 2 file(s) left out: cut.jpg: cannot be decoded" in table
    with pytest.raises(UserError, match=r"2 file\(s\) cannot be used \(--strict_data\): cut.jpg: "):
        run(_settings(folder, tmp_path / "out", strict_data=True))


def test_label_outside_the_models_classes_is_an_error_naming_it(tmp_path):
    folder = _folder(tmp_path / "data", {"a.png": 1, "b.png": 1000})
    with pytest.raises(UserError, match=r"1 label\(s\) are not classes of untrusted_tiny.test \(0..999\): b.png: 1000"):
        run(_settings(folder, tmp_path / "out"))


def test_output_dir_that_is_a_file_or_under_one(tmp_path):
    folder = _folder(tmp_path / "data", {"a.png": 1})
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(UserError, match="is a file, not a folder"):
        run(_settings(folder, tmp_path / "taken"))
    with pytest.raises(UserError, match="cannot be written"):
        run(_settings(folder, tmp_path / "taken" / "sub"))


def test_nan_weights_are_counted_and_reported_instead_of_a_number(tmp_path):
    folder = _folder(tmp_path / "data", {f"img{i}.png": i for i in range(5)})
    weights = _save_weights(tmp_path / "weights", 1.0, nan=True)
    summary = run(_settings(folder, tmp_path / "out", weights=str(weights)))
    [model] = summary["models"]
    assert model["results"] == []
    [skip] = model["skipped"]
    assert skip["dimension"] == "accuracy" and "not finite (NaN/inf)" in skip["reason"] and "5 of 5" in skip["reason"]
    [line] = model["warnings"]
    assert "5 of 5 examples" in line and "non-finite outputs" in line


def test_run_that_evaluates_nothing_exits_non_zero(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "data" / "labels.csv").write_text("file,class_index\nbroken.jpg,1\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "jaxquba.main", "--model_module=untrusted_tiny_model",
                           f"--model={MODEL}", "--weights=random", f"--datasets=folder:{tmp_path / 'data'}",
                           f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "error: nothing requested could be evaluated" in done.stderr
    assert "none of its 1 images can be used, e.g. broken.jpg" in done.stdout  # the table says why
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["models"][0]["results"] == [] and summary["models"][0]["skipped"]
