"""``bcos`` package state dicts (``conv1.linear.weight``, ``bn1.weight``/``running_var``, ..., ``fc.linear.weight``)
-> :mod:`jaxquba.models.bcos` parameters.

A ``BcosConv2d`` keeps its kernel in ``<name>.linear.weight`` (normalised to unit norm at every forward, so the
stored scale is irrelevant and is kept as it is). An uncentered batch norm without bias uses only ``weight`` and
``running_var``; its ``running_mean`` is still trained and saved, but the eval formula never reads it, so it is
consumed here and dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters.state_dict import StateDictReader
from jaxquba import zoo


def _conv(read: StateDictReader, prefix: str) -> dict[str, np.ndarray]:
    return {"kernel": read(f"{prefix}.linear.weight").transpose(2, 3, 1, 0)}


def _norm(read: StateDictReader, prefix: str) -> dict[str, np.ndarray]:
    read(f"{prefix}.running_mean")  # unused by BatchNormUncentered2d in eval mode (see the module docstring)
    return {"scale": read(f"{prefix}.weight"), "var": read(f"{prefix}.running_var")}


def convert_resnet(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    config = spec.config_dict()
    params: dict[str, Any] = {"conv1": _conv(read, "conv1"), "bn1": _norm(read, "bn1"),
                              "classifier": _conv(read, "fc")}
    convs = 2 if config["block"] == "basic" else 3
    for stage, depth in enumerate(config["depths"]):
        for i in range(depth):
            p = f"layer{stage + 1}.{i}"
            block = {f"{kind}{j}": fn(read, f"{p}.{kind}{j}") for j in range(1, convs + 1)
                     for kind, fn in (("conv", _conv), ("bn", _norm))}
            if f"{p}.downsample.0.linear.weight" in read:
                block["downsample_conv"] = _conv(read, f"{p}.downsample.0")
                block["downsample_bn"] = _norm(read, f"{p}.downsample.1")
            params[f"layer{stage + 1}_{i}"] = block
    return params


def convert_densenet(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    blocks = spec.config_dict()["blocks"]
    params: dict[str, Any] = {"conv0": _conv(read, "features.conv0"), "norm0": _norm(read, "features.norm0"),
                              "norm5": _norm(read, "features.norm5"), "classifier": _conv(read, "classifier")}
    for b, depth in enumerate(blocks):
        for i in range(depth):
            p = f"denseblock{b + 1}.denselayer{i + 1}"
            for j in (1, 2):
                params[f"{p.replace('.', '_')}_norm{j}"] = _norm(read, f"features.{p}.norm{j}")
                params[f"{p.replace('.', '_')}_conv{j}"] = _conv(read, f"features.{p}.conv{j}")
        if b < len(blocks) - 1:
            params[f"transition{b + 1}_norm"] = _norm(read, f"features.transition{b + 1}.norm")
            params[f"transition{b + 1}_conv"] = _conv(read, f"features.transition{b + 1}.conv")
    return params


def _position_norm(read: StateDictReader, prefix: str) -> dict[str, np.ndarray]:
    return {"scale": read(f"{prefix}.weight")}


def convert_convnext(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """``features.0`` stem conv, ``.1`` its norm, then per stage its blocks (``features.<2 + 2 i>.<j>``) and the
    downsampling before the next stage (``features.<3 + 2 i>``: norm, conv); ``classifier``: norm, conv."""
    depths = spec.config_dict()["depths"]
    params: dict[str, Any] = {"stem_conv": _conv(read, "features.0"), "stem_norm": _position_norm(read, "features.1"),
                              "head_norm": _position_norm(read, "classifier.0"),
                              "classifier": _conv(read, "classifier.1")}
    for stage, depth in enumerate(depths):
        if stage > 0:
            params[f"downsample{stage}_norm"] = _position_norm(read, f"features.{1 + 2 * stage}.0")
            params[f"downsample{stage}_conv"] = _conv(read, f"features.{1 + 2 * stage}.1")
        for i in range(depth):
            p = f"features.{2 + 2 * stage}.{i}"
            params[f"stage{stage}_{i}"] = {
                "dwconv": _conv(read, f"{p}.block.0"), "norm": _position_norm(read, f"{p}.block.1"),
                "pwconv1": _conv(read, f"{p}.block.2"), "pwconv2": _conv(read, f"{p}.block.3"),
                "layer_scale": {"gamma": read(f"{p}.layer_scale").reshape(-1)}}
    return params


def convert_vit(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """``BcosSequential(SimpleViT, LogitLayer)``: every key under ``0.``; a ``BcosLinear``'s weight is
    ``<name>.linear.weight``, the plain qkv projection's ``to_qkv.weight``."""

    def bcos_linear(prefix: str) -> dict[str, np.ndarray]:
        return {"kernel": read(f"0.{prefix}.linear.weight").T}

    def norm(prefix: str) -> dict[str, np.ndarray]:
        return {"scale": read(f"0.{prefix}.weight")}

    params: dict[str, Any] = {"patch_embed": bcos_linear("to_patch_embedding.linear"),
                              "head_norm": norm("linear_head.norm"), "head": bcos_linear("linear_head.linear")}
    for i in range(spec.config_dict()["depth"]):
        p = f"transformer.encoder_{i}"
        params[f"encoder_{i}"] = {"attn_norm": norm(f"{p}.attn.norm"),
                                  "qkv": {"kernel": read(f"0.{p}.attn.to_qkv.weight").T},
                                  "attn_out": bcos_linear(f"{p}.attn.to_out"), "ff_norm": norm(f"{p}.ff.net.norm"),
                                  "linear1": bcos_linear(f"{p}.ff.net.linear1"),
                                  "linear2": bcos_linear(f"{p}.ff.net.linear2")}
    return params
