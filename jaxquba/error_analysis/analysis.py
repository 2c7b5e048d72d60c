"""One-call setup and evaluation: build the relations from WordNet + ReaL labels, classify, compute the stats."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from jaxquba.error_analysis import inputs, metrics, relations, superclasses
from jaxquba.error_analysis.classify import classify
from jaxquba.error_analysis.oov import OOVRule


def build_relations(real_labels: Sequence[Sequence[int]] | None = None, multilabel_files: Iterable[str] = (),
                    class_superclasses: Sequence[frozenset[str]] | None = None,
                    cache: str | Path | None = None) -> relations.Relations:
    """Relations for the 1000 classes.

    Args:
      real_labels: ReaL labels (50,000 lists in val order); default: the copy in the PyPI package ``imagenet-x``.
      multilabel_files: val file names left out of the co-occurrence counts (the study leaves out the 20,000
        images of ``imagenet2012_multilabel`` that it evaluates on).
      class_superclasses: default :func:`superclasses.from_wordnet`.
      cache: an ``.npz`` path; loaded when present, written otherwise.
    """
    if cache is not None and Path(cache).is_file():
        return relations.load(cache)
    real_labels = inputs.read_real_labels() if real_labels is None else real_labels
    label_sets = relations.real_label_sets(real_labels, inputs.validation_targets(), inputs.validation_file_names(),
                                           exclude=multilabel_files)
    built = relations.build(class_superclasses or superclasses.from_wordnet(), label_sets)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        built.save(cache)
    return built


def evaluate(predictions: np.ndarray, data: inputs.MultiLabels, rel: relations.Relations,
             non_prototypical: frozenset[str], oov: OOVRule | None = None,
             imagenet_m: frozenset[str] | None = None) -> tuple[np.ndarray, dict[str, list[dict]]]:
    """Error types ``[n_models, n_images]`` and the per-group stats rows of every model."""
    predictions = np.atleast_2d(predictions)
    types = classify(predictions, data, rel, non_prototypical, oov)
    groups = {k: np.array(v) for k, v in superclasses.lemma_groups().items()}
    return types, metrics.stats(types, predictions, data, groups, imagenet_m)
