"""timm ``convnext`` (v1) state dicts -> :mod:`jaxquba.models.convnext` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv": tl.conv2d(read, "stem.0"), "stem_norm": tl.layer_norm(read, "stem.1"),
        "head_norm": tl.layer_norm(read, "head.norm"), "head_fc": tl.linear(read, "head.fc"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        p = f"stages.{stage}"
        if stage > 0:
            params[f"stages_{stage}_downsample_norm"] = tl.layer_norm(read, f"{p}.downsample.0")
            params[f"stages_{stage}_downsample_conv"] = tl.conv2d(read, f"{p}.downsample.1")
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            params[f"stages_{stage}_blocks_{i}"] = {
                "conv_dw": tl.conv2d(read, f"{b}.conv_dw"), "norm": tl.layer_norm(read, f"{b}.norm"),
                "mlp": tl.mlp(read, f"{b}.mlp"), "ls": {"gamma": read(f"{b}.gamma")}}
    return params
