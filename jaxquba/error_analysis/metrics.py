"""Metrics of PROTOCOLS.md P3.4 from classified error types: multi-label accuracy (MLA) and its variants, per-type
counts, per group (all / organism / artifact / other), vectorised over models. Column names are those of the
study's ``non_problematic_stats_<group>.csv``.
"""

from __future__ import annotations

import numpy as np

from jaxquba.error_analysis.classify import ErrorType as T
from jaxquba.error_analysis.inputs import PAD, MultiLabels

# Types counted as correct by each MLA variant.
MLA_CORRECT = {
    "": (T.CORRECT, T.COLLAPSED, T.MULTI_LABEL),
    "_minor_error": (T.CORRECT, T.COLLAPSED, T.MULTI_LABEL, T.SAME_SUPERCLASS, T.OOV),
    "_explainable_error": (T.CORRECT, T.COLLAPSED, T.MULTI_LABEL, T.SAME_SUPERCLASS, T.OOV, T.CO_OCCURRENCE,
                           T.NON_PROTOTYPICAL),
}
COUNT_COLUMNS = {
    "num_collapsed_mappings": T.COLLAPSED,
    "num_ambiguous": T.MULTI_LABEL,
    "num_same_superclass": T.SAME_SUPERCLASS,
    "num_common_co_occ": T.CO_OCCURRENCE,
    "num_non_prototypical": T.NON_PROTOTYPICAL,
    "num_OOV_clip": T.OOV,
    "num_not_classified": T.NOT_CLASSIFIED,
}


def mla(correct: np.ndarray, targets: np.ndarray, num_classes: int = 1000) -> np.ndarray:
    """Multi-label accuracy in %: per-class accuracy averaged over the classes present. ``correct`` is
    ``bool[n_models, n_images]``; returns ``float[n_models]``."""
    m = correct.shape[0]
    per_image = np.arange(m)[:, None] * num_classes + targets[None]
    hits = np.bincount(per_image.ravel(), correct.ravel(), minlength=m * num_classes).reshape(m, num_classes)
    totals = np.bincount(targets, minlength=num_classes)
    present = totals > 0
    if not present.any():  # an empty group (possible on small subsets)
        return np.full(m, np.nan)
    return 100.0 * (hits[:, present] / totals[present]).mean(-1)


def group_masks(data: MultiLabels, class_groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Images per group: an image is in a group if any label of its multi-label set is (the study's rule)."""
    valid = data.labels != PAD
    return {name: (np.asarray(classes)[np.where(valid, data.labels, 0)] & valid).any(-1)
            for name, classes in class_groups.items()}


def stats(types: np.ndarray, predictions: np.ndarray, data: MultiLabels, class_groups: dict[str, np.ndarray],
          imagenet_m: frozenset[str] | None = None) -> dict[str, list[dict[str, float]]]:
    """Per group, one dict of the study's columns per model. Problematic images are left out of everything.

    Args:
      types, predictions: ``[n_models, n_images]`` error types and top-1 predictions.
      class_groups: ``bool[1000]`` per group name (see :func:`superclasses.lemma_groups`).
      imagenet_m: file names of the ImageNet-M images (68); None for data sets without it (ImageNet-A).
    """
    types, predictions = np.atleast_2d(types), np.atleast_2d(predictions)
    keep = ~data.is_problematic
    types, predictions = types[:, keep], predictions[:, keep]
    targets, labels = data.targets[keep], data.labels[keep]
    file_names = [f for f, k in zip(data.file_names, keep) if k]
    kept = MultiLabels(tuple(file_names), targets, labels, np.zeros(len(targets), bool))
    in_m = (labels[None] == predictions[..., None]).any(-1)
    on_imagenet_m = np.array([f in imagenet_m for f in file_names]) if imagenet_m is not None else None
    overall = {f"mla_all{suffix}": mla(np.isin(types, correct_types), targets)
               for suffix, correct_types in MLA_CORRECT.items()}
    result = {}
    for group, images in group_masks(kept, class_groups).items():
        t = types[:, images]
        columns = {
            "num_all_samples": np.full(len(types), len(targets)),
            "num_group_samples": np.full(len(types), int(images.sum())),
            "num_group_correct": (t == T.CORRECT).sum(-1),
            "num_all_top1_errors": (predictions != targets).sum(-1),
            "num_group_top1_errors": (predictions[:, images] != targets[images]).sum(-1),
            **overall,
            **{f"mla_group{suffix}": mla(np.isin(t, correct_types), targets[images])
               for suffix, correct_types in MLA_CORRECT.items()},
            **{column: (t == kind).sum(-1) for column, kind in COUNT_COLUMNS.items()},
        }
        if on_imagenet_m is not None:
            in_group_m = images & on_imagenet_m
            columns["num_all_imagenet-m_samples"] = np.full(len(types), int(on_imagenet_m.sum()))
            columns["num_group_imagenet-m_samples"] = np.full(len(types), int(in_group_m.sum()))
            columns["num_imagenet-m_errors"] = (~in_m[:, in_group_m]).sum(-1)
        result[group] = [{k: v[i].item() for k, v in columns.items()} for i in range(len(types))]
    return result
