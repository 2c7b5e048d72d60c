"""The 1000x1000 class relations the classifier gathers from: collapsed mappings, same superclass, co-occurrence.

All three are boolean matrices indexed ``[label, prediction]`` so that rules over many models and images become
array gathers. They depend only on WordNet, the superclasses and the ReaL labels, so they are built once
(:func:`build`) and can be saved and reloaded (:meth:`Relations.save`, :func:`load`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from jaxquba.errors import UserError

NUM_CLASSES = 1000

# Transcribed from PROTOCOLS.md P3.2 (the study's hard-coded table, from Vasudevan et al. 2022):
# target -> predictions that count as the same class. "a<->b" pairs appear in both directions.
COLLAPSED_MAPPINGS: dict[int, tuple[int, ...]] = {
    250: (248,), 249: (248,),              # Siberian husky, malamute -> Eskimo dog
    836: (837,), 837: (836,),              # sunglass <-> sunglasses
    385: (101,), 386: (101,),              # Indian / African elephant -> tusker
    504: (968,),                           # coffee mug -> cup
    638: (639,), 639: (638,),              # maillot <-> maillot (tank suit)
    657: (744,), 744: (657,),              # missile <-> projectile
    620: (681,), 681: (620,),              # notebook <-> laptop
    664: (782,), 782: (664,),              # monitor <-> screen
    482: (848,),                           # cassette player -> tape player
    356: (357, 358, 359), 357: (356, 358, 359), 358: (356, 357, 359), 359: (356, 357, 358),  # mustelids
    435: (876,),                           # bathtub -> tub
}


@dataclasses.dataclass(frozen=True)
class Relations:
    """Precomputed relations, each ``bool[1000, 1000]`` indexed ``[label, prediction]``."""

    collapsed: np.ndarray
    same_superclass: np.ndarray
    co_occurrence: np.ndarray
    superclasses: tuple[frozenset[str], ...]

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, collapsed=self.collapsed, same_superclass=self.same_superclass,
                            co_occurrence=self.co_occurrence,
                            superclasses=json.dumps([sorted(s) for s in self.superclasses]))


def load(path: str | Path) -> Relations:
    with np.load(path) as f:
        return Relations(f["collapsed"], f["same_superclass"], f["co_occurrence"],
                         tuple(frozenset(s) for s in json.loads(str(f["superclasses"]))))


def collapsed_matrix(mappings: dict[int, Sequence[int]] = COLLAPSED_MAPPINGS) -> np.ndarray:
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), bool)
    for target, predictions in mappings.items():
        matrix[target, list(predictions)] = True
    return matrix


def same_superclass_matrix(superclasses: Sequence[frozenset[str]]) -> np.ndarray:
    """``[a, b]`` is True when classes a and b share a superclass."""
    ids = sorted({s for sc in superclasses for s in sc})
    index = {s: i for i, s in enumerate(ids)}
    membership = np.zeros((len(superclasses), len(ids)), np.int32)
    for c, sc in enumerate(superclasses):
        membership[c, [index[s] for s in sc]] = 1
    return (membership @ membership.T) > 0


def co_occurrence_counts(label_sets: Iterable[Iterable[int]]) -> np.ndarray:
    """``[a, b]`` = number of images whose label set holds both a and b (a != b), symmetric."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int32)
    for labels in label_sets:
        labels = sorted(set(labels))
        if len(labels) >= 2:
            a, b = np.array(list(itertools.combinations(labels, 2))).T
            np.add.at(counts, (a, b), 1)
            np.add.at(counts, (b, a), 1)
    return counts


def real_label_sets(real_labels: Sequence[Sequence[int]], original_labels: Sequence[int], file_names: Sequence[str],
                    exclude: Iterable[str] = ()) -> list[list[int]]:
    """The study's co-occurrence label sets: ReaL labels plus the original label, for every image that has ReaL
    labels and is not excluded (the study excludes the 20,000 images of ``imagenet2012_multilabel``)."""
    if not len(real_labels) == len(original_labels) == len(file_names):
        raise UserError(f"ReaL labels ({len(real_labels)}), original labels ({len(original_labels)}) and file names "
                        f"({len(file_names)}) must describe the same images")
    exclude = set(exclude)
    return [sorted(set(real) | {int(original)})
            for real, original, name in zip(real_labels, original_labels, file_names)
            if real and name not in exclude]


def co_occurrence_matrix(counts: np.ndarray, same_superclass: np.ndarray, min_count: int = 2) -> np.ndarray:
    """Common co-occurrence pairs: seen together at least ``min_count`` times and in disjoint superclasses."""
    return (counts >= min_count) & ~same_superclass


def build(superclasses: Sequence[frozenset[str]], label_sets: Iterable[Iterable[int]]) -> Relations:
    same = same_superclass_matrix(superclasses)
    return Relations(collapsed_matrix(), same, co_occurrence_matrix(co_occurrence_counts(label_sets), same),
                     tuple(superclasses))
