"""The error classifier of PROTOCOLS.md P3.3, vectorised over models and images.

Every rule is a gather from a precomputed ``[1000, 1000]`` relation, so predictions of shape
``[n_models, n_images]`` are classified at once; the rules are then combined in the study's order, first match wins.
Only rule 6 (out-of-vocabulary, CLIP) leaves the arrays: it is asked only for errors that reach it, once per distinct
(image, prediction) across all models (see :mod:`jaxquba.error_analysis.oov`).
"""

from __future__ import annotations

import enum

import numpy as np

from jaxquba.error_analysis.inputs import PAD, MultiLabels
from jaxquba.error_analysis.oov import OOVRule
from jaxquba.error_analysis.relations import Relations
from jaxquba.errors import UserError


class ErrorType(enum.IntEnum):
    """Outcome per (model, image), numbered in rule order. The study's type names are in :data:`STUDY_NAMES`."""

    CORRECT = 0
    COLLAPSED = 1          # overlapping classes: counted correct in MLA
    MULTI_LABEL = 2        # ambiguous / multi-object: counted correct in MLA
    SAME_SUPERCLASS = 3    # fine-grained (minor)
    SIMILAR_TO_TARGET = 4  # problematic images only: target not in M, p shares a superclass with it
    CO_OCCURS_WITH_TARGET = 5  # problematic images only: target not in M, (target, p) co-occur
    OOV = 6                # fine-grained out-of-vocabulary (minor)
    CO_OCCURRENCE = 7      # spurious correlation (explainable)
    NON_PROTOTYPICAL = 8   # explainable
    NOT_CLASSIFIED = 9     # model failure / major error


STUDY_NAMES = {
    ErrorType.CORRECT: "correct",
    ErrorType.COLLAPSED: "correct (collapsed mapping)",
    ErrorType.MULTI_LABEL: "correct wrt multi label (ambiguous/multi-object)",
    ErrorType.SAME_SUPERCLASS: "same superclass (fine-grained)",
    ErrorType.SIMILAR_TO_TARGET: "fine-grained/OOV, same superset as target, but target not in multi-label",
    ErrorType.CO_OCCURS_WITH_TARGET: "common co-occurrences with target (spurious correlations), but target not in "
                                     "multi-label",
    ErrorType.OOV: "potentially OOV, detected by CLIP",
    ErrorType.CO_OCCURRENCE: "common co-occurrences (spurious correlations)",
    ErrorType.NON_PROTOTYPICAL: "non-prototypical (DoughBagel)",
    ErrorType.NOT_CLASSIFIED: "error not classified",
}


def _any_label(relation: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """``[m, n]``: some label c in the image's set has ``relation[c, p]``."""
    valid = labels != PAD
    hit = relation[np.where(valid, labels, 0)[None], predictions[..., None]]  # [m, n, k]
    return (hit & valid).any(-1)


def classify(predictions: np.ndarray, data: MultiLabels, relations: Relations, non_prototypical: frozenset[str],
             oov: OOVRule | None = None) -> np.ndarray:
    """Error types ``int8[n_models, n_images]`` (or ``[n_images]`` for 1-D predictions) as :class:`ErrorType`.

    Args:
      predictions: top-1 class per (model, image), ``int[n_models, n_images]`` or ``int[n_images]``.
      data: targets, multi-label sets, problematic flags and file names of the images.
      relations: the precomputed class relations.
      non_prototypical: file names of the DoughBagel non-prototypical images.
      oov: rule 6; without it (no CLIP available) rule 6 never fires and those errors fall to the later rules.
    """
    predictions = np.asarray(predictions)
    squeeze = predictions.ndim == 1
    predictions = np.atleast_2d(predictions).astype(np.int64)
    if predictions.shape[-1] != len(data) or predictions.min() < 0 or predictions.max() >= relations.collapsed.shape[1]:
        raise UserError(f"predictions must be class indices in [0, {relations.collapsed.shape[1]}) of shape "
                        f"[n_models, {len(data)}]; got shape {predictions.shape}")
    targets = data.targets.astype(np.int64)[None]
    in_set = (data.labels[None] == predictions[..., None]).any(-1)
    target_in_set = (data.labels == data.targets[:, None]).any(-1)[None]
    open_rules = [  # (type, condition) in the study's order; the first true condition wins
        (ErrorType.CORRECT, predictions == targets),
        (ErrorType.COLLAPSED, relations.collapsed[targets, predictions]),
        (ErrorType.MULTI_LABEL, in_set),
        (ErrorType.SAME_SUPERCLASS, _any_label(relations.same_superclass, data.labels, predictions)),
        (ErrorType.SIMILAR_TO_TARGET, ~target_in_set & relations.same_superclass[targets, predictions]),
        (ErrorType.CO_OCCURS_WITH_TARGET, ~target_in_set & relations.co_occurrence[targets, predictions]),
    ]
    undecided = ~np.logical_or.reduce([cond for _, cond in open_rules])
    oov_hit = np.zeros_like(undecided)
    if oov is not None:
        ask = undecided & oov.gate(predictions)
        m, n = np.nonzero(ask)
        oov_hit[m, n] = oov.decide([data.file_names[i] for i in n], predictions[m, n], data.targets[n])
    is_non_prototypical = np.array([name in non_prototypical for name in data.file_names])[None]
    rules = open_rules + [
        (ErrorType.OOV, oov_hit),
        (ErrorType.CO_OCCURRENCE, _any_label(relations.co_occurrence, data.labels, predictions)),
        (ErrorType.NON_PROTOTYPICAL, np.broadcast_to(is_non_prototypical, predictions.shape)),
    ]
    types = np.select([cond for _, cond in rules], [int(t) for t, _ in rules],
                      default=int(ErrorType.NOT_CLASSIFIED)).astype(np.int8)
    return types[0] if squeeze else types


def classify_one(target: int, labels: list[int], prediction: int, file_name: str, image_index: int,
                 relations: Relations, non_prototypical: frozenset[str], oov: OOVRule | None = None) -> ErrorType:
    """The same rules for one image, written as the study's per-row if-chain (reference for tests and the benchmark)."""
    same, co = relations.same_superclass, relations.co_occurrence
    if prediction == target:
        return ErrorType.CORRECT
    if relations.collapsed[target, prediction]:
        return ErrorType.COLLAPSED
    if prediction in labels:
        return ErrorType.MULTI_LABEL
    if any(same[c, prediction] for c in labels):
        return ErrorType.SAME_SUPERCLASS
    if target not in labels:
        if same[target, prediction]:
            return ErrorType.SIMILAR_TO_TARGET
        if co[target, prediction]:
            return ErrorType.CO_OCCURS_WITH_TARGET
    if oov is not None and any(same[c, prediction] for c in oov.neighbour_classes[image_index]):
        if oov.decide([file_name], np.array([prediction]), np.array([target]))[0]:
            return ErrorType.OOV
    if any(co[c, prediction] for c in labels):
        return ErrorType.CO_OCCURRENCE
    if file_name in non_prototypical:
        return ErrorType.NON_PROTOTYPICAL
    return ErrorType.NOT_CLASSIFIED
