"""timm ``pit`` state dicts -> :mod:`jaxquba.models.pit` parameters (the position embedding goes NCHW -> NHWC)."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.conv"), "pos_embed": read("pos_embed").transpose(0, 2, 3, 1),
        "cls_token": read("cls_token"), "norm": tl.layer_norm(read, "norm"), "head": tl.linear(read, "head"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        p = f"transformers.{stage}"
        if stage > 0:
            params[f"transformers_{stage}_pool_conv"] = tl.conv2d(read, f"{p}.pool.conv")
            params[f"transformers_{stage}_pool_fc"] = tl.linear(read, f"{p}.pool.fc")
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            params[f"transformers_{stage}_blocks_{i}"] = {
                "norm1": tl.layer_norm(read, f"{b}.norm1"), "attn": tl.self_attention(read, f"{b}.attn"),
                "norm2": tl.layer_norm(read, f"{b}.norm2"), "mlp": tl.mlp(read, f"{b}.mlp")}
    return params
