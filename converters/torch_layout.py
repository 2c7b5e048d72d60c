"""PyTorch module layouts -> Flax parameter dicts, one function per layer kind.

Each function takes a :class:`~converters.state_dict.StateDictReader` and the PyTorch module prefix (``"layer1.0.
conv1"``) and returns the Flax parameter dict of the matching layer in :mod:`jaxquba.models.layers`. Every tensor is
read through the reader, so missing and unused keys are tracked for ``check_conversion``.
"""

from __future__ import annotations

import numpy as np

from converters.state_dict import StateDictReader


def linear(read: StateDictReader, prefix: str, bias: bool = True) -> dict[str, np.ndarray]:
    """``nn.Linear``: weight (out, in) -> Dense kernel (in, out)."""
    params = {"kernel": read(f"{prefix}.weight").T}
    if bias:
        params["bias"] = read(f"{prefix}.bias")
    return params


def conv2d(read: StateDictReader, prefix: str, bias: bool = True) -> dict[str, np.ndarray]:
    """``nn.Conv2d``: weight (out, in/groups, kh, kw) -> Conv kernel (kh, kw, in/groups, out)."""
    params = {"kernel": read(f"{prefix}.weight").transpose(2, 3, 1, 0)}
    if bias:
        params["bias"] = read(f"{prefix}.bias")
    return params


def layer_norm(read: StateDictReader, prefix: str) -> dict[str, np.ndarray]:
    """``nn.LayerNorm`` / timm ``LayerNorm2d``: weight, bias -> scale, bias."""
    return {"scale": read(f"{prefix}.weight"), "bias": read(f"{prefix}.bias")}


def batch_norm(read: StateDictReader, prefix: str) -> dict[str, np.ndarray]:
    """``nn.BatchNorm2d`` in eval mode -> :class:`~jaxquba.models.layers.FrozenBatchNorm`."""
    return {"scale": read(f"{prefix}.weight"), "bias": read(f"{prefix}.bias"),
            "mean": read(f"{prefix}.running_mean"), "var": read(f"{prefix}.running_var")}


def mlp(read: StateDictReader, prefix: str) -> dict[str, dict[str, np.ndarray]]:
    """timm ``Mlp`` (fc1, fc2) -> :class:`~jaxquba.models.layers.Mlp`."""
    return {"fc1": linear(read, f"{prefix}.fc1"), "fc2": linear(read, f"{prefix}.fc2")}


def self_attention(read: StateDictReader, prefix: str, qkv_bias: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """timm ``Attention`` (fused qkv, proj) -> :class:`~jaxquba.models.layers.SelfAttention`."""
    return {"qkv": linear(read, f"{prefix}.qkv", bias=qkv_bias), "proj": linear(read, f"{prefix}.proj")}


def conv_stem(read: StateDictReader, prefix: str, convs: int, proj: bool) -> dict[str, dict[str, np.ndarray]]:
    """RobustBench's ConvStem ``Sequential`` (conv, LayerNorm, GELU per stage: indices 3i, 3i + 1; then, with
    ``proj``, the 1x1 conv at 3 x convs) -> :class:`~jaxquba.models.layers.ConvStem`."""
    params = {}
    for i in range(convs):
        params[f"conv_{i}"] = conv2d(read, f"{prefix}.{3 * i}")
        params[f"norm_{i}"] = layer_norm(read, f"{prefix}.{3 * i + 1}")
    if proj:
        params["proj"] = conv2d(read, f"{prefix}.{3 * convs}")
    return params
