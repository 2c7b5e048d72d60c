"""timm ``resnetv2_*_bit`` state dicts -> :mod:`jaxquba.models.resnetv2` parameters.

The Flax modules carry timm's module paths as names. Conv kernels are weight-standardised here, once, as timm's
``StdConv2d`` does at every forward: per output channel, minus the mean, divided by sqrt(biased variance + 1e-8)
(computed in float64, stored in float32).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.resnetv2 import STD_CONV_EPS


def standardise(weight: np.ndarray) -> np.ndarray:
    """timm ``StdConv2d``'s kernel: each output channel's weights to zero mean and unit (biased) variance."""
    w = np.asarray(weight, np.float64).reshape(weight.shape[0], -1)
    w = (w - w.mean(axis=1, keepdims=True)) / np.sqrt(w.var(axis=1, keepdims=True) + STD_CONV_EPS)
    return w.reshape(weight.shape).astype(np.float32)


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    def leaf(path, _shape):
        names = [p.key for p in path]
        module = ".".join(names[:-1])
        if names[-1] == "scale":  # GroupNorm
            return read(f"{module}.weight")
        if names[-1] == "bias":
            return read(f"{module}.bias")
        weight = read(f"{module}.weight")
        if weight.ndim != 4:  # a missing tensor's placeholder, reported by check_conversion
            return weight
        if module == "head.fc":  # a 1x1 conv with bias in timm, a Dense here
            return weight[:, :, 0, 0].T
        return standardise(weight).transpose(2, 3, 1, 0)

    return jax.tree_util.tree_map_with_path(leaf, expected_params(spec))
