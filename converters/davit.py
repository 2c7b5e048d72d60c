"""timm ``davit`` state dicts -> :mod:`jaxquba.models.davit` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv": tl.conv2d(read, "stem.conv"), "stem_norm": tl.layer_norm(read, "stem.norm"),
        "head_norm": tl.layer_norm(read, "head.norm"), "head_fc": tl.linear(read, "head.fc"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        p = f"stages.{stage}"
        if stage > 0:
            params[f"stages_{stage}_downsample_norm"] = tl.layer_norm(read, f"{p}.downsample.norm")
            params[f"stages_{stage}_downsample_conv"] = tl.conv2d(read, f"{p}.downsample.conv")
        for i in range(depth):
            block = {}
            for index, kind in enumerate(("spatial", "channel")):
                b = f"{p}.blocks.{i}.{index}"
                block.update({f"{kind}_cpe1": tl.conv2d(read, f"{b}.cpe1.proj"),
                              f"{kind}_cpe2": tl.conv2d(read, f"{b}.cpe2.proj"),
                              f"{kind}_norm1": tl.layer_norm(read, f"{b}.norm1"),
                              f"{kind}_norm2": tl.layer_norm(read, f"{b}.norm2"),
                              f"{kind}_attn": tl.self_attention(read, f"{b}.attn"),
                              f"{kind}_mlp": tl.mlp(read, f"{b}.mlp")})
            params[f"stages_{stage}_blocks_{i}"] = block
    return params
