"""timm ``cait`` state dicts -> :mod:`jaxquba.models.cait` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"), "pos_embed": read("pos_embed"),
        "cls_token": read("cls_token"), "norm": tl.layer_norm(read, "norm"), "head": tl.linear(read, "head"),
    }

    def block(p: str, attn: dict[str, Any]) -> dict[str, Any]:
        return {"norm1": tl.layer_norm(read, f"{p}.norm1"), "attn": attn, "norm2": tl.layer_norm(read, f"{p}.norm2"),
                "mlp": tl.mlp(read, f"{p}.mlp"), "gamma_1": read(f"{p}.gamma_1"), "gamma_2": read(f"{p}.gamma_2")}

    for i in range(cfg["depth"]):
        p = f"blocks.{i}"
        params[f"blocks_{i}"] = block(p, {name: tl.linear(read, f"{p}.attn.{name}")
                                          for name in ("qkv", "proj_l", "proj_w", "proj")})
    for i in range(cfg.get("depth_token_only", 2)):
        p = f"blocks_token_only.{i}"
        params[f"blocks_token_only_{i}"] = block(p, {name: tl.linear(read, f"{p}.attn.{name}")
                                                     for name in ("q", "k", "v", "proj")})
    return params
