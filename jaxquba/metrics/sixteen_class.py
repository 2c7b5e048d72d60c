"""The 16-class decision of model-vs-human, 16-class accuracy and cue-conflict shape bias (P1.3, P1.5).

A 1000-way output becomes a 16-way decision by averaging the softmax probabilities of each category's member
ImageNet classes and taking the argmax. The member lists are those of PROTOCOLS.md P1.5 (207 classes).
"""

from __future__ import annotations

import re
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.metrics.probabilities import probabilities

_DOG_EXCLUDED = {192, 204, 227, 242, 251, 258, 260, 264}

# Category -> member ImageNet-1k indices (0-based, sorted-WNID order). Categories are in alphabetical order,
# which is the index order of the 16-way argmax.
MEMBERS: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 94,
             95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140, 141, 142, 143,
             144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": tuple(i for i in range(152, 269) if i not in _DOG_EXCLUDED),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}
CATEGORIES: tuple[str, ...] = tuple(sorted(MEMBERS))


def _membership_matrix(num_classes: int) -> np.ndarray:
    """(num_classes, 16) matrix whose column c averages the members of category c."""
    matrix = np.zeros((num_classes, len(CATEGORIES)), np.float32)
    for column, category in enumerate(CATEGORIES):
        matrix[list(MEMBERS[category]), column] = 1.0 / len(MEMBERS[category])
    return matrix


def sixteen_class_probabilities(outputs: jax.Array, probs_input: bool = False) -> jax.Array:
    """(N, 16): for each category the arithmetic mean of its members' probabilities."""
    probs = probabilities(outputs, probs_input)
    members = jnp.asarray(_membership_matrix(probs.shape[-1]))
    return jnp.matmul(probs, members, precision=jax.lax.Precision.HIGHEST)


def sixteen_class_decisions(outputs: jax.Array, probs_input: bool = False) -> jax.Array:
    """(N,) index into :data:`CATEGORIES` of the 16-way decision."""
    return jnp.argmax(sixteen_class_probabilities(outputs, probs_input), axis=-1)


def category_indices(names: Sequence[str]) -> np.ndarray:
    """Category names -> indices into :data:`CATEGORIES` (ValueError for a name outside the 16)."""
    unknown = sorted(set(names) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"not one of the 16 categories {CATEGORIES}: {unknown}")
    return np.array([CATEGORIES.index(n) for n in names], np.int32)


def texture_category(file_name: str) -> str:
    """Texture category from a cue-conflict file name: ``'..._dog10-bird2.png'`` -> ``'bird'``
    (the last '-'-separated token of the stem, digits removed)."""
    stem = file_name.rsplit("/", 1)[-1].split("_")[-1].split(".")[0]
    return re.sub(r"\d", "", stem.split("-")[-1])


def shape_bias(decisions: jax.Array, shape_labels: jax.Array, texture_labels: jax.Array) -> float:
    """Shape bias = #shape decisions / (#shape + #texture decisions), over images whose shape and texture
    categories differ (same-category images are dropped). All three arrays hold indices into the 16 categories."""
    decisions, shape_labels, texture_labels = map(np.asarray, (decisions, shape_labels, texture_labels))
    conflict = shape_labels != texture_labels
    shape_hits = np.sum(decisions[conflict] == shape_labels[conflict])
    texture_hits = np.sum(decisions[conflict] == texture_labels[conflict])
    if shape_hits + texture_hits == 0:
        raise ValueError("shape bias is undefined: no decision matched either the shape or the texture category")
    return float(shape_hits / (shape_hits + texture_hits))
