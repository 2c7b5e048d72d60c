"""The QUBA quality dimensions of "Beyond Accuracy" (PROTOCOLS.md P1.1-P1.6) besides accuracy, on engine outputs.

=====================  ===================================================  ========================================
dimension              passes                                               value (``Value.column``)
=====================  ===================================================  ========================================
calibration            reference, clean, ``probs``                          ``Cal. Err.`` = sqrt(ACE * ECE)
class_balance          reference, clean, ``probs``                          ``Class Balance``
adversarial            reference, FGSM + PGD-10 (eps 8/255), ``top1``       ``Adv. Rob.``
corruption             reference, 15 x 5 release-style ImageNet-C views     ``C-Rob.``
                       (default), or the clean pass of 75 release sets
ood                    mvh edge/silhouette/sketch/stylized (16-class),      ``OOD Rob.``
                       ImageNet-R (200-class)
object_focus           ImageNet-9 mixed_same, mixed_rand                    ``Obj. Foc.``
shape_bias             mvh cue-conflict (16-class)                          ``Shape Bias``
parameters             none                                                 ``Params`` (millions, 0.1)
=====================  ===================================================  ========================================

The reference dataset (``--datasets``, ImageNet validation for the published numbers) is measured by accuracy,
calibration and class balance, and its clean top-1 is the denominator of every ratio. All of them ask for the
clean view of the reference, so the app's pass merging runs it once, with the union of the heads (``top1``,
``top5``, ``probs``).

Protocols (:mod:`jaxquba.protocols`): the engine's model outputs already follow the protocol (under
``quba_paper`` a probability-output model's probabilities are what the ``probs`` head softmaxes again), so the
probability heads are used as they come (``probs_input=True``); the attacks act on the normalised tensor under
``quba_paper`` and in pixel space under ``pixel``. Every value's spec names the protocol, e.g.
``adv_rob@imagenet2012:validation[protocol=quba_paper@v2,attacks=fgsm(...)+pgd(...)]``.

Settings (:class:`QubaDatasets`, in the dimensions' ``Context`` as study ``quba``; the app builds them from its
flags, :mod:`jaxquba.app.study_flags`):

* ``--quba_imagenet_c``: where C-Rob's corrupted images come from; the C-Rob specs say it as
  ``corruptions=<source>,pipeline=<pipeline>``:

  - ``views`` (default; pipeline ``release``): the 15 corruptions computed on the device from the reference images
    the way the ImageNet-C release was made and is read (:mod:`jaxquba.views.corruptions.release`): the host
    prepares the release's Resize 256 (bilinear) / CenterCrop 224 whatever the model, the device corrupts at 224,
    truncates to uint8, JPEG-encodes and decodes at quality 85, then applies the model's own eval transform
    (Pillow's resize with its interpolation, centre crop) to the decoded image. Needs no download.
  - ``model_input`` (pipeline ``model_input``): the corruptions computed on the model's own preprocessed input and
    fed straight to the model (no JPEG, no second transform). Cheaper, but not the published protocol: with
    tf_efficientnet_lite0 on the 500 shared photos it raises a corruption's C-Rob by +0.02 (pixelate) to +0.16
    (impulse noise) (docs/IMAGENET_C.md); the report does not rank it among the published models.
  - ``tfds`` (pipeline ``tfds``): tfds ``imagenet2012_corrupted/<c>_<s>`` (tfds regenerates the corruptions its
    own way; not ranked among the published either).
  - a path ``ROOT`` of the ImageNet-C JPEG release (pipeline ``release_files``; ``ROOT/<corruption>/<severity>/
    <wnid>/*.JPEG``, the published protocol's data), each read as ``folder:ROOT/<c>/<s>`` with the model's
    transform.
* ``--quba_in_to_in9``: path of ``in_to_in9.json`` from github.com/MadryLab/backgrounds_challenge (the 1000 -> 9
  class map; the repository has no licence, so jaxquba does not ship it): download
  ``https://raw.githubusercontent.com/MadryLab/backgrounds_challenge/master/in_to_in9.json``.
* ``--quba_imagenet_r``: the ImageNet-R dataset spec (default tfds ``imagenet_r``; ``folder:PATH/imagenet-r`` reads
  the extracted release tar, whose wnid folders give standard ImageNet labels).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np

from jaxquba.data.preprocess import make_eval_transform
from jaxquba.dimensions.accuracy import view_accuracy
from jaxquba.dimensions.base import Context, Dimension, Pass, Value, register
from jaxquba.dimensions.heads import HEAD_DECISION16, HEAD_IMAGENET_R
from jaxquba.engine import Outputs
from jaxquba.errors import UserError
from jaxquba.metrics import calibration, class_balance, robustness
from jaxquba.metrics.accuracy import top_k_accuracy
from jaxquba.metrics.object_focus import in9_predictions, load_in_to_in9, object_focus
from jaxquba.metrics.sixteen_class import shape_bias
from jaxquba.value_spec import parse as parse_value_spec
from jaxquba.value_spec import render as render_value_spec
from jaxquba.views.attacks import fgsm_view, pgd_view
from jaxquba.views.base import CLEAN, View
from jaxquba.views.corruptions import corruption_view
from jaxquba.views.corruptions.release import RELEASE_PREPROCESS, model_transform_of_release, release_view
from jaxquba.zoo import DataConfig

IMAGENET_C_VIEWS, IMAGENET_C_MODEL_INPUT, IMAGENET_C_TFDS = "views", "model_input", "tfds"
ON_DEVICE = (IMAGENET_C_VIEWS, IMAGENET_C_MODEL_INPUT)
SUITE = "quba"
RANKABLE_PIPELINES = ("release", "release_files")
"""C-Rob pipelines that reproduce the published protocol's data (the report ranks only these among the published)."""
# ---------------------------------------------------------------------------------------------------------------
# Data settings.

MVH_OOD = {"edge": "mvh_edge", "silhouette": "mvh_silhouette", "sketch": "mvh_sketch", "stylized": "mvh_stylized"}


@dataclasses.dataclass(frozen=True)
class QubaDatasets:
    """Where the QUBA dimensions' own data come from (the reference dataset is the run's ``--datasets``)."""

    imagenet_c: str = IMAGENET_C_VIEWS
    in_to_in9: str | None = None
    imagenet_r: str = "imagenet_r"
    mvh: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(MVH_OOD))
    cue_conflict: str = "mvh_cue_conflict"
    mixed_same: str = "imagenet9:mixed_same"
    mixed_rand: str = "imagenet9:mixed_rand"

    @property
    def on_device(self) -> bool:
        return self.imagenet_c in ON_DEVICE

    @property
    def c_rob_source(self) -> dict[str, str]:
        """The ``corruptions`` and ``pipeline`` fields of every C-Rob spec: where the corrupted images came from
        and how they were made and read (only ``release`` and ``release_files`` are the published protocol's)."""
        source, pipeline = {IMAGENET_C_VIEWS: ("views", "release"), IMAGENET_C_MODEL_INPUT: ("views", "model_input"),
                            IMAGENET_C_TFDS: ("tfds:imagenet2012_corrupted", "tfds")}.get(
            self.imagenet_c, (f"release:{self.imagenet_c}", "release_files"))
        return {"corruptions": source, "pipeline": pipeline}

    def corrupted_sets(self) -> dict[tuple[str, int], str]:
        """(corruption, severity) -> dataset spec of the released sets (not for the on-device views)."""
        def spec(c, s):
            if self.imagenet_c == IMAGENET_C_TFDS:
                return f"imagenet2012_corrupted/{c}_{s}"
            return f"folder:{self.imagenet_c.rstrip('/')}/{c}/{s}"
        return {(c, s): spec(c, s) for c in robustness.CORRUPTIONS for s in robustness.SEVERITIES}

    def in9_map(self) -> np.ndarray:
        if not self.in_to_in9:
            raise UserError("object focus needs the ImageNet -> ImageNet-9 class map: download in_to_in9.json from "
                            "https://raw.githubusercontent.com/MadryLab/backgrounds_challenge/master/in_to_in9.json "
                            "and pass --quba_in_to_in9=PATH")
        return load_in_to_in9(self.in_to_in9)


# ---------------------------------------------------------------------------------------------------------------
# Reductions (pure functions of engine outputs).

def value_spec(metric: str, dataset: str, ctx: Context, **details: str) -> str:
    """``metric@dataset[protocol=...,k=v]``: what was measured, on which data, under which protocol."""
    return render_value_spec(metric, dataset, protocol=ctx.protocol.spec, **details)


def clean_accuracy(outputs: Mapping[str, Outputs], ctx: Context) -> float:
    """Top-1 of the reference's clean pass: the denominator of every ratio (UserError where it is 0)."""
    acc = view_accuracy(outputs[ctx.dataset])
    if acc == 0:
        raise UserError(f"clean accuracy on {ctx.dataset} is 0, so the robustness ratios are undefined")
    return acc


def attack_views(ctx: Context) -> tuple[View, View]:
    """(FGSM, PGD-10) at eps 8/255, step 2/255, in the protocol's attack space: the network input under
    ``quba_paper`` (the published quirk: for most models the normalised tensor), pixels under ``pixel``. The engine's
    model functions already give what the protocol calls the model's logits (probabilities of probability-output
    models under ``quba_paper``)."""
    space = ctx.protocol.attack_space
    return fgsm_view(8, space), pgd_view(8, 2, 10, space)


def corruption_views(model_data: DataConfig, imagenet_c: str = IMAGENET_C_VIEWS) -> dict[tuple[str, int], View]:
    """The 15 x 5 on-device views: release-style (``views``: read through the model's transform ``model_data``)
    or on the model's input (``model_input``)."""
    if imagenet_c == IMAGENET_C_MODEL_INPUT:
        return {(c, s): corruption_view(c, s) for c in robustness.CORRUPTIONS for s in robustness.SEVERITIES}
    own = make_eval_transform(model_data)
    transform = model_transform_of_release(own.scale_size, own.size, own.interpolation)
    return {(c, s): release_view(c, s, transform) for c in robustness.CORRUPTIONS for s in robustness.SEVERITIES}


def corruption_accuracies(outputs: Mapping[str, Outputs], ctx: Context, datasets: QubaDatasets
                          ) -> dict[str, dict[int, float]]:
    """acc[corruption][severity], from the corruption views of the reference or from the released sets."""
    acc: dict[str, dict[int, float]] = {}
    if datasets.on_device:
        for (c, s), view in corruption_views(ctx.model.data, datasets.imagenet_c).items():
            acc.setdefault(c, {})[s] = view_accuracy(outputs[ctx.dataset], view.name)
    else:
        for (c, s), spec in datasets.corrupted_sets().items():
            acc.setdefault(c, {})[s] = view_accuracy(outputs[spec])
    return acc


def c_rob_not_comparable(spec: str) -> str | None:
    """Why a C-Rob value (by its spec) is not comparable with the published ones, or None where it is: only the
    ``release`` (on-device, release-style) and ``release_files`` pipelines reproduce the published protocol's
    data; a spec without a pipeline predates this distinction (its ``views`` were model-input corruptions)."""
    fields = parse_value_spec(spec)
    pipeline = fields.get("pipeline") or {"views": "model_input", "tfds": "tfds"}.get(
        fields.get("corruptions", "").split(":")[0], "release_files")
    if pipeline in RANKABLE_PIPELINES:
        return None
    return (f"C-Rob from pipeline={pipeline}, not the ImageNet-C release's (JPEG q85 at 224 px read through the "
            "model's transform): run with --quba_imagenet_c=views (the default) or the release root")


def parameters_millions(num_params: int) -> float:
    """Params = parameter count in millions, rounded to 0.1 (P1.3)."""
    return round(num_params / 1e6, 1)


# ---------------------------------------------------------------------------------------------------------------
# The dimensions.

def settings_of(ctx: Context) -> QubaDatasets:
    """The run's QUBA settings (the defaults where the run gave none)."""
    return ctx.study(SUITE, QubaDatasets)


def make_dimensions(datasets: Callable[[Context], QubaDatasets] = settings_of) -> list[Dimension]:
    """The eight QUBA dimensions besides accuracy; ``datasets(ctx)`` gives their data settings."""

    def calibration_reduce(outputs, ctx):
        out = outputs[ctx.dataset]
        probs = out.views[CLEAN.name]["probs"]
        ece = calibration.expected_calibration_error(probs, out.labels, probs_input=True)
        ace = calibration.adaptive_calibration_error(probs, out.labels, probs_input=True)
        return [Value("cal_err", calibration.calibration_error(ace, ece), value_spec("cal_err", ctx.dataset, ctx),
                      column="Cal. Err."),
                Value("ece", ece, value_spec("ece", ctx.dataset, ctx, bins="15")),
                Value("ace", ace, value_spec("ace", ctx.dataset, ctx, bins="15"))]

    def class_balance_reduce(outputs, ctx):
        out = outputs[ctx.dataset]
        probs = out.views[CLEAN.name]["probs"]
        pred = class_balance.prediction_balance(probs, out.labels)
        conf = class_balance.confidence_balance(probs, out.labels, probs_input=True)
        return [Value("class_balance", float(np.sqrt(pred * conf)), value_spec("class_balance", ctx.dataset, ctx),
                      column="Class Balance"),
                Value("fair_pred", pred, value_spec("fair_pred", ctx.dataset, ctx)),
                Value("fair_conf", conf, value_spec("fair_conf", ctx.dataset, ctx))]

    def adversarial_passes(ctx):
        return (Pass.of(ctx.dataset, [CLEAN], ["top1"]), Pass.of(ctx.dataset, attack_views(ctx), ["top1"]))

    def adversarial_reduce(outputs, ctx):
        fgsm, pgd = attack_views(ctx)
        clean = clean_accuracy(outputs, ctx)
        acc_fgsm, acc_pgd = view_accuracy(outputs[ctx.dataset], fgsm.name), view_accuracy(outputs[ctx.dataset],
                                                                                         pgd.name)
        attacks = f"{fgsm.name}+{pgd.name}"
        return [Value("adv_rob", robustness.adversarial_robustness(acc_pgd, acc_fgsm, clean),
                      value_spec("adv_rob", ctx.dataset, ctx, attacks=attacks), column="Adv. Rob."),
                Value("acc_fgsm", acc_fgsm, value_spec("top1", ctx.dataset, ctx, view=fgsm.name)),
                Value("acc_pgd", acc_pgd, value_spec("top1", ctx.dataset, ctx, view=pgd.name))]

    def corruption_passes(ctx):
        d = datasets(ctx)
        clean = Pass.of(ctx.dataset, [CLEAN], ["top1"])
        if d.on_device:
            views = list(corruption_views(ctx.model.data, d.imagenet_c).values())
            preprocess = RELEASE_PREPROCESS if d.imagenet_c == IMAGENET_C_VIEWS else None
            return (clean, Pass.of(ctx.dataset, views, ["top1"], preprocess=preprocess))
        return (clean,) + tuple(Pass.of(spec, [CLEAN], ["top1"]) for spec in d.corrupted_sets().values())

    def corruption_reduce(outputs, ctx):
        d = datasets(ctx)
        clean = clean_accuracy(outputs, ctx)
        acc = corruption_accuracies(outputs, ctx, d)
        source = d.c_rob_source
        values = [Value("c_rob", robustness.corruption_robustness(acc, clean),
                        value_spec("c_rob", ctx.dataset, ctx, **source), column="C-Rob.")]
        values += [Value(f"c_rob/{c}", float(np.mean([acc[c][s] / clean for s in robustness.SEVERITIES])),
                         value_spec(f"c_rob/{c}", ctx.dataset, ctx, **source))
                   for c in robustness.CORRUPTIONS]
        return values

    def ood_passes(ctx):
        d = datasets(ctx)
        return ((Pass.of(ctx.dataset, [CLEAN], ["top1"]), Pass.of(d.imagenet_r, [CLEAN], [HEAD_IMAGENET_R]))
                + tuple(Pass.of(spec, [CLEAN], [HEAD_DECISION16]) for spec in d.mvh.values()))

    def ood_reduce(outputs, ctx):
        d = datasets(ctx)
        clean = clean_accuracy(outputs, ctx)
        acc = {name: view_accuracy(outputs[spec], head=HEAD_DECISION16) for name, spec in d.mvh.items()}
        acc["imagenet_r"] = view_accuracy(outputs[d.imagenet_r], head=HEAD_IMAGENET_R)
        specs = {**d.mvh, "imagenet_r": d.imagenet_r}
        return ([Value("ood_rob", robustness.ood_robustness(acc, clean), value_spec("ood_rob", ctx.dataset, ctx),
                       column="OOD Rob.")]
                + [Value(f"acc_{name}", acc[name], value_spec("top1_16class" if name != "imagenet_r" else
                                                              "top1_200class", specs[name], ctx))
                   for name in robustness.OOD_DATASETS])

    def object_focus_passes(ctx):
        d = datasets(ctx)
        d.in9_map()  # a missing or unreadable map skips the dimension before any work
        return tuple(Pass.of(spec, [CLEAN], ["top1"]) for spec in (ctx.dataset, d.mixed_same, d.mixed_rand))

    def object_focus_reduce(outputs, ctx):
        d = datasets(ctx)
        table = d.in9_map()
        clean = clean_accuracy(outputs, ctx)
        same, rand = (top_k_accuracy(in9_predictions(outputs[s].views[CLEAN.name]["top1"], table), outputs[s].labels)
                      for s in (d.mixed_same, d.mixed_rand))
        return [Value("obj_focus", object_focus(same, rand, clean), value_spec("obj_focus", ctx.dataset, ctx),
                      column="Obj. Foc."),
                Value("acc_mixed_same", same, value_spec("top1_in9", d.mixed_same, ctx)),
                Value("acc_mixed_rand", rand, value_spec("top1_in9", d.mixed_rand, ctx))]

    def shape_bias_reduce(outputs, ctx):
        spec = datasets(ctx).cue_conflict
        out = outputs[spec]
        if "texture_label" not in out.extras:
            raise UserError(f"{spec} has no texture labels; use the model-vs-human cue-conflict set (mvh_cue_conflict)")
        try:
            value = shape_bias(out.views[CLEAN.name][HEAD_DECISION16], out.extras["shape_label"],
                               out.extras["texture_label"])
        except ValueError as e:
            raise UserError(f"shape bias on {spec}: {e}") from None
        return [Value("shape_bias", value, value_spec("shape_bias", spec, ctx), column="Shape Bias")]

    def parameters_reduce(outputs, ctx):
        return [Value("params_m", parameters_millions(ctx.model.num_params),
                      value_spec("params_m", ctx.model.name, ctx), column="Params")]

    clean_probs = lambda ctx: (Pass.of(ctx.dataset, [CLEAN], ["top1", "probs"]),)  # noqa: E731
    return [
        Dimension("calibration", "Cal. Err. = sqrt(ACE * ECE), 15 bins, on the reference's clean pass",
                  clean_probs, calibration_reduce),
        Dimension("class_balance", "Class Balance = sqrt((1 - std of per-class recall) * (1 - mean within-class "
                  "std of the true-class probability))", clean_probs, class_balance_reduce),
        Dimension("adversarial", "Adv. Rob. = gmean(PGD-10, FGSM accuracy / clean), eps 8/255", adversarial_passes,
                  adversarial_reduce),
        Dimension("corruption", "C-Rob. = mean over 15 ImageNet-C corruptions x 5 severities of accuracy / clean",
                  corruption_passes, corruption_reduce),
        Dimension("ood", "OOD Rob. = gmean of accuracy / clean on mvh edge, silhouette, sketch, stylized "
                  "(16-class) and ImageNet-R (200-class)", ood_passes, ood_reduce),
        Dimension("object_focus", "Obj. Foc. = 1 - (acc mixed_same - acc mixed_rand) / clean, ImageNet-9",
                  object_focus_passes, object_focus_reduce),
        Dimension("shape_bias", "Shape Bias on model-vs-human cue-conflict (16-class decisions)",
                  lambda ctx: (Pass.of(datasets(ctx).cue_conflict, [CLEAN], [HEAD_DECISION16]),), shape_bias_reduce),
        Dimension("parameters", "Params = parameter count in millions, rounded to 0.1", lambda ctx: (),
                  parameters_reduce),
    ]


DIMENSIONS = [register(d) for d in make_dimensions()]
