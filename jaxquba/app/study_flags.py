"""The command-line flags of each study, and the settings the app builds from them.

A study's dimensions read their settings from the dimensions' ``Context`` (``ctx.study(name, default)``), never
from absl, so they run the same from the app, a test or a notebook. The flags are defined here, where the app
defines its own; importing this module defines them (:mod:`jaxquba.main` imports it before absl parses the command
line). :func:`study_settings` turns the parsed values into one settings object per study, keyed by the study's
suite name, which the app passes on as ``Context.studies``.
"""

from __future__ import annotations

from typing import Any

from absl import flags

from jaxquba.error_analysis import dimensions as error_study
from jaxquba.generalization import dimensions as bias_study
from jaxquba.quba import dimensions as quba_study

# QUBA (jaxquba.quba.dimensions.QubaDatasets).
flags.DEFINE_string("quba_imagenet_c", quba_study.IMAGENET_C_VIEWS,
                    "C-Rob data: 'views' (15x5 corruptions computed on the device from the reference images as the "
                    "ImageNet-C release was made and is read: 224 px, JPEG q85, the model's transform), "
                    "'model_input' (corruptions of the model's own input, no JPEG; not the published protocol), "
                    "'tfds' (imagenet2012_corrupted) or the root of the ImageNet-C JPEG release "
                    "(ROOT/<corruption>/<severity>/<wnid>/*.JPEG).")
flags.DEFINE_string("quba_in_to_in9", None,
                    "Path of in_to_in9.json (MadryLab/backgrounds_challenge), the ImageNet -> ImageNet-9 class map "
                    "object focus needs.")
flags.DEFINE_string("quba_imagenet_r", "imagenet_r", "ImageNet-R dataset spec (tfds name or folder:PATH).")

# The generalization (bias) study (jaxquba.generalization.dimensions.P2Datasets).
flags.DEFINE_string("p2_imagenet_c", None, "Root of the ImageNet-C JPEG release for the generalization study "
                    "(ROOT/<corruption>/<severity>/<wnid>/*), or 'views': the 19 x 5 corruptions computed on the "
                    "device from the reference images as the release was made (224 px, JPEG q85) and fed as stored; "
                    "default: tfds imagenet2012_corrupted.")
flags.DEFINE_string("p2_imagenet_cbar", None, "Root of ImageNet-C-bar (ROOT/<corruption>/<severity folder>/<wnid>/*, "
                    "5 severity folders per corruption); it is not in tfds.")

# The error study (jaxquba.error_analysis.dimensions.ErrorSettings).
flags.DEFINE_string("errors_multilabel", error_study.TFDS, f"Multi-label annotations: '{error_study.TFDS}' "
                    f"({error_study.MULTILABEL_DATASET}, needs ImageNet) or a JSON list of records with the tfds "
                    "field names (file_name, original_label, correct_multi_labels, unclear_multi_labels, "
                    "is_problematic).")
flags.DEFINE_string("errors_real_labels", None, "ReaL labels (real.json) for the co-occurrence relation; default: "
                    "the copy in the PyPI package imagenet-x.")
flags.DEFINE_string("errors_non_prototypical", None, "The metadata folder of google-research/imagenet-mistakes "
                    "(non-prototypical rule); without it that rule never fires.")
flags.DEFINE_bool("errors_clip", False, "Run the CLIP out-of-vocabulary rule (expensive: one CLIP forward pass "
                  "over the reference dataset, stored and shared by every model evaluated on that store).")
flags.DEFINE_string("errors_clip_model", error_study.ErrorSettings.clip_model,
                    "CLIP model of the out-of-vocabulary rule.")
flags.DEFINE_string("errors_clip_weights", error_study.ErrorSettings.clip_weights,
                    "Weights of --errors_clip_model (as --weights).")
flags.DEFINE_string("errors_published_csv", None, "The study's stats-imagenet/non_problematic_stats_all.csv; when "
                    "given, the per-model report (table, position among the published models, PNG, HTML) is written "
                    "to OUTPUT_DIR/errors/<model>/.")


def study_settings(flag_values: flags.FlagValues, output_dir: str) -> dict[str, Any]:
    """study (suite) name -> its settings, from the parsed flags; ``output_dir`` (the run's) receives the error
    study's per-model reports."""
    f = flag_values
    return {
        quba_study.SUITE: quba_study.QubaDatasets(imagenet_c=f.quba_imagenet_c, in_to_in9=f.quba_in_to_in9,
                                                  imagenet_r=f.quba_imagenet_r),
        bias_study.SUITE: bias_study.P2Datasets(imagenet_c_root=f.p2_imagenet_c or None,
                                                imagenet_cbar_root=f.p2_imagenet_cbar or None),
        error_study.SUITE: error_study.ErrorSettings(
            multilabel=f.errors_multilabel, real_labels=f.errors_real_labels,
            non_prototypical=f.errors_non_prototypical, clip=f.errors_clip, clip_model=f.errors_clip_model,
            clip_weights=f.errors_clip_weights, published_csv=f.errors_published_csv,
            report_dir=f"{output_dir.rstrip('/')}/errors"),
    }
