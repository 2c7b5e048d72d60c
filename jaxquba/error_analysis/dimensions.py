"""Error classification (Peychev et al. 2023, PROTOCOLS.md P3) as a dimension: ``--dimensions=errors``.

It reads the top-1 predictions of the clean pass of the reference dataset (ImageNet validation; the same heads as
``accuracy``, so that pass is shared), joins them by file name with the multi-label annotations (tfds
``imagenet2012_multilabel`` or ``--errors_multilabel=PATH.json``), sorts every error with
:mod:`jaxquba.error_analysis` and reports multi-label accuracy (MLA) and each error type's count and share of the
top-1 errors, named by the columns of the study's stats CSV. Reference images without multi-labels are ignored.
The pass asks for each example's file name (``example_names``), so the reduce never opens the dataset; it reads
only the stored outputs and the annotations the settings name.

The CLIP out-of-vocabulary rule (6) is off by default. With ``--errors_clip`` the dimension declares a second pass:
CLIP ViT-L/14@336px's image embeddings of the whole reference dataset (``Pass.model``), which the app runs, stores
and resumes like the model's own passes and shares between all models of a sweep (each model's errors reach rule 6
on different images; the study, too, embeds every validation image once). The non-prototypical rule (8) needs the
google-research/imagenet-mistakes metadata folder (``--errors_non_prototypical``); without it that rule never
fires. With ``--errors_published_csv`` (the study's ``non_problematic_stats_all.csv``) the app writes the
per-model report from these values to ``OUTPUT_DIR/errors/<model>/`` (:func:`report_row`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Mapping

import numpy as np

from jaxquba import value_spec
from jaxquba.dimensions.accuracy import HEADS
from jaxquba.dimensions.base import Context, Dimension, ModelRef, Pass, Value, register
from jaxquba.engine import Outputs
from jaxquba.errors import UserError
from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.views.base import CLEAN

TFDS = "tfds"
MULTILABEL_DATASET = "imagenet2012_multilabel"


@dataclasses.dataclass(frozen=True)
class ErrorSettings:
    """The error study's settings (study ``errors`` of the dimensions' ``Context``; the app builds them from its
    ``--errors_*`` flags, :mod:`jaxquba.app.study_flags`).

    ``multilabel``: ``tfds`` or a JSON path of the multi-label records; ``real_labels``: real.json (default: the
    copy in imagenet-x); ``non_prototypical``: the imagenet-mistakes metadata folder; ``clip``: run the CLIP
    out-of-vocabulary rule with ``clip_model`` / ``clip_weights``; ``published_csv``: the study's stats CSV, which
    turns on the per-model report written to ``report_dir/<model>/``."""

    multilabel: str = TFDS
    real_labels: str | None = None
    non_prototypical: str | None = None
    clip: bool = False
    clip_model: str = "clip_vit_l14_336.openai"
    clip_weights: str = "default"
    published_csv: str | None = None
    report_dir: str = "errors"


GROUPS = ("organism", "artifact", "other")


SUITE = "errors"


def settings_of(ctx: Context) -> ErrorSettings:
    """The run's error-study settings (the defaults where the run gave none)."""
    return ctx.study(SUITE, ErrorSettings)


def clip_pass_model(settings: ErrorSettings) -> ModelRef:
    """The CLIP model of rule 6, run for its image embeddings."""
    return ModelRef(settings.clip_model, settings.clip_weights, "image_embedding")


def _passes(ctx: Context) -> tuple[Pass, ...]:
    settings = settings_of(ctx)
    check_multilabels(settings.multilabel, ctx.data_dir)  # skip before any work where absent
    passes = [Pass.of(ctx.dataset, [CLEAN], HEADS, example_names=True)]
    if settings.clip:  # CLIP's image embeddings of the reference dataset: stored once, shared by every model
        passes.append(Pass.of(ctx.dataset, [CLEAN], ["logits"], model=clip_pass_model(settings)))
    return tuple(passes)


def check_multilabels(where: str, data_dir: str | None) -> None:
    """UserError naming how to get the multi-label annotations where they are not there."""
    if where != TFDS:
        if not Path(where).expanduser().is_file():
            raise UserError(f"--errors_multilabel={where}: no such file (a JSON list of multi-label records)")
        return
    import tensorflow_datasets as tfds

    from jaxquba.data import registry
    if not tfds.builder(MULTILABEL_DATASET, data_dir=data_dir).is_prepared():
        hint = registry.resolve(MULTILABEL_DATASET, data_dir).prepare_hint
        raise UserError(f"the multi-label annotations ({MULTILABEL_DATASET}) are not prepared. {hint} "
                        "Or give them as JSON: --errors_multilabel=PATH.json")


def load_multilabels(where: str, data_dir: str | None):
    """The multi-label annotations (``tfds`` or a JSON path) and the ImageNet-M file names (tfds only)."""
    from jaxquba.error_analysis import inputs
    check_multilabels(where, data_dir)
    if where != TFDS:
        return inputs.from_json(where), None
    imagenet_m = inputs.from_tfds("imagenet_m", data_dir)
    return inputs.from_tfds("validation", data_dir), frozenset(imagenet_m.file_names)


def align(data, file_names: list[str], predictions: np.ndarray, labels: np.ndarray):
    """The multi-labelled images among the evaluated ones (in annotation order) and their predictions; the
    reference labels must equal the annotations' original labels (else the dataset is not ImageNet val)."""
    from jaxquba.error_analysis.inputs import MultiLabels
    index = {name: i for i, name in enumerate(file_names)}
    rows = [r for r, name in enumerate(data.file_names) if Path(name).name in index]
    if not rows:
        raise UserError("none of the evaluated images has multi-labels: the reference dataset must be ImageNet "
                        "validation (or a part of it with the original file names)")
    at = np.array([index[Path(data.file_names[r]).name] for r in rows])
    mismatched = np.flatnonzero(labels[at] != data.targets[rows])
    if len(mismatched):
        raise UserError(f"{len(mismatched)} images have a different label in the reference dataset than in the "
                        f"multi-label annotations (e.g. {data.file_names[rows[mismatched[0]]]}); they must describe "
                        "the same ImageNet validation images")
    kept = MultiLabels(tuple(data.file_names[r] for r in rows), data.targets[rows], data.labels[rows],
                       data.is_problematic[rows])
    return kept, predictions[at], at


def relations_for(data, real_labels_path: str | None):
    """The class relations, cached under ``$JAXQUBA_CACHE/error_analysis`` per (ReaL labels, multi-label files)."""
    from jaxquba.error_analysis import analysis, inputs
    from jaxquba.error_analysis.wordnet import cache_root
    key = hashlib.sha256("\n".join([str(real_labels_path), *sorted(data.file_names)]).encode()).hexdigest()[:16]
    real = inputs.read_real_labels(real_labels_path)
    cache = cache_root() / "error_analysis" / f"relations-{key}.npz"
    return analysis.build_relations(real, multilabel_files=data.file_names, cache=cache)


def clip_rule(embeddings: np.ndarray, file_names: list[str], data, same_superclass: np.ndarray,
              settings: ErrorSettings):
    """Rule 6 with the real CLIP chooser: ``embeddings[i]`` is CLIP's stored image embedding of the reference
    dataset's example ``i``, named ``file_names[i]``. The prompts' text features come from the CLIP weights (the
    converted-parameter cache), so the rule is a function of the stored outputs and those weights."""
    from jaxquba.error_analysis.chooser import ClipChooser, clip_text
    from jaxquba.error_analysis.oov import OOVRule
    from jaxquba.loader import load_classifier
    full_names = {Path(n).name: n for n in data.file_names}
    features = {full_names.get(n, n): row for n, row in zip(file_names, embeddings)}
    chooser = ClipChooser(features, clip_text(load_classifier(settings.clip_model, weights=settings.clip_weights)))
    return OOVRule(chooser, same_superclass, chooser.neighbour_classes(list(data.file_names)))


def _reduce(outputs: Mapping[str, Outputs], ctx: Context) -> list[Value]:
    from jaxquba.error_analysis import analysis, inputs
    from jaxquba.error_analysis.metrics import COUNT_COLUMNS, MLA_CORRECT

    settings = settings_of(ctx)
    out = outputs[ctx.dataset]
    predictions = out.views[CLEAN.name]["top1"]
    file_names = list(out.extras["example_name"])
    annotations, imagenet_m = load_multilabels(settings.multilabel, ctx.data_dir)
    data, predictions, _ = align(annotations, file_names, predictions, out.labels)
    rel = relations_for(annotations, settings.real_labels)
    folder = settings.non_prototypical
    non_prototypical = inputs.read_non_prototypical(folder) if folder else frozenset()
    oov = None
    if settings.clip:
        embeddings = outputs[clip_pass_model(settings).outputs_key(ctx.dataset)].views[CLEAN.name]["logits"]
        oov = clip_rule(embeddings, file_names, data, rel.same_superclass, settings)
    _, stats = analysis.evaluate(predictions, data, rel, non_prototypical, oov, imagenet_m)

    row = stats["all"][0]
    errors = max(row["num_group_top1_errors"], 1)
    values = [(column, value) for column, value in row.items()]  # the study's stats CSV columns, MLA and counts
    values += [("share_" + c.removeprefix("num_"), 100.0 * row[c] / errors) for c in COUNT_COLUMNS]
    values += [(f"mla_group_{g}", stats[g][0]["mla_group"]) for g in GROUPS]
    clean = ~data.is_problematic
    values.append((TOP1_COLUMN, 100.0 * top_k_accuracy(predictions[clean], data.targets[clean])))
    return [Value(name, float(v), value_spec.render(f"errors/{name}", ctx.dataset)) for name, v in values]


TOP1_COLUMN = "top1_val_acc"  # top-1 (%) over the non-problematic multi-labelled images, as the study's CSV


def report_row(values: Mapping[str, float], model: str) -> dict:
    """The per-model report's row (:func:`jaxquba.error_analysis.report.write`) from this dimension's values: the
    stats CSV's columns, the model named as the study names its own (``jaxquba--<model>``)."""
    return {"model_dir_id": f"jaxquba--{model}",
            **{k: v for k, v in values.items() if not k.startswith(("share_", "mla_group_"))}}


ERRORS = register(Dimension(
    "errors", "error classification (Peychev et al. 2023): multi-label accuracy and error-type counts/shares",
    _passes, _reduce, suite=SUITE))
