"""timm ``beit`` state dicts -> :mod:`jaxquba.models.beit` parameters.

``relative_position_index`` and ``k_bias`` are derived buffers: accepted when present (original checkpoints save
the index), recomputed by the module.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    for key in read.keys():
        if key.endswith((".attn.relative_position_index", ".attn.k_bias")):
            read(key)  # marks it used; the module computes its own
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"), "cls_token": read("cls_token"),
        "fc_norm": tl.layer_norm(read, "fc_norm"), "head": tl.linear(read, "head"),
    }
    for i in range(cfg["depth"]):
        p = f"blocks.{i}"
        params[f"blocks_{i}"] = {
            "norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
            "relative_position_bias_table": read(f"{p}.attn.relative_position_bias_table"),
            "q_bias": read(f"{p}.attn.q_bias"), "v_bias": read(f"{p}.attn.v_bias"),
            "qkv": tl.linear(read, f"{p}.attn.qkv", bias=False), "proj": tl.linear(read, f"{p}.attn.proj"),
            "gamma_1": read(f"{p}.gamma_1"), "gamma_2": read(f"{p}.gamma_2"), "mlp": tl.mlp(read, f"{p}.mlp")}
    return params
