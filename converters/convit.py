"""timm ``convit`` state dicts -> :mod:`jaxquba.models.convit` parameters (``rel_indices`` is derived, not saved)."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    for key in read.keys():
        if key.endswith(".attn.rel_indices"):
            read(key)  # marks it used; the module computes its own
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"), "pos_embed": read("pos_embed"),
        "cls_token": read("cls_token"), "norm": tl.layer_norm(read, "norm"), "head": tl.linear(read, "head"),
    }
    for i in range(cfg.get("depth", 12)):
        p = f"blocks.{i}"
        if i < cfg.get("local_up_to_layer", 10):
            attn = {"qk": tl.linear(read, f"{p}.attn.qk", bias=False), "v": tl.linear(read, f"{p}.attn.v", bias=False),
                    "pos_proj": tl.linear(read, f"{p}.attn.pos_proj"), "proj": tl.linear(read, f"{p}.attn.proj"),
                    "gating_param": read(f"{p}.attn.gating_param")}
        else:
            attn = tl.self_attention(read, f"{p}.attn", qkv_bias=False)
        params[f"blocks_{i}"] = {"norm1": tl.layer_norm(read, f"{p}.norm1"), "attn": attn,
                                 "norm2": tl.layer_norm(read, f"{p}.norm2"), "mlp": tl.mlp(read, f"{p}.mlp")}
    return params
