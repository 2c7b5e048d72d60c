"""200-class subsets of ImageNet-1k (ImageNet-R, ImageNet-A): accuracy with the outputs restricted to the
subset's classes.

The index lists ship as package data (``resources/imagenet_subsets.json``, taken from timm's package data,
Apache-2.0). Labels stay in the 1000-class space (as tfds ``imagenet_r``/``imagenet_a`` give them); the argmax
over the subset's columns is mapped back to its 1k index before comparing.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.errors import UserError, closest


@functools.cache
def _subsets() -> dict[str, tuple[int, ...]]:
    text = resources.files("jaxquba").joinpath("resources/imagenet_subsets.json").read_text()
    return {name: tuple(v) for name, v in json.loads(text).items() if not name.startswith("_")}


def subset_indices(name: str) -> np.ndarray:
    """Sorted ImageNet-1k indices of a 200-class subset: ``'imagenet_r'`` or ``'imagenet_a'``."""
    subsets = _subsets()
    if name not in subsets:
        raise UserError(f"unknown ImageNet subset {name!r}; known: {sorted(subsets)} "
                        f"(closest: {closest(name, subsets)})")
    return np.array(subsets[name], np.int32)


def subset_mask(name: str, num_classes: int = 1000) -> np.ndarray:
    """(num_classes,) bool mask of the subset's classes, in sorted-WNID order."""
    mask = np.zeros(num_classes, bool)
    mask[subset_indices(name)] = True
    return mask


def subset_predictions(outputs: jax.Array, class_indices: np.ndarray) -> jax.Array:
    """(N,) argmax over the columns ``class_indices`` of the (N, 1000) outputs, as 1k class indices (so labels stay
    in the 1k space; their accuracy is :func:`jaxquba.metrics.accuracy.top_k_accuracy`)."""
    class_indices = jnp.asarray(class_indices)
    return class_indices[jnp.argmax(jnp.asarray(outputs)[:, class_indices], axis=-1)]
