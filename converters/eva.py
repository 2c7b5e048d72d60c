"""timm ``eva`` (EVA-02 classifier) state dicts -> :mod:`jaxquba.models.eva` parameters.

``rope.*`` and ``k_bias`` are derived buffers (timm does not save them): accepted when present, recomputed.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    fused = cfg.get("qkv_fused", True)
    for key in read.keys():
        if key.startswith("rope.") or key.endswith(".attn.k_bias"):
            read(key)  # marks it used; the module computes its own
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"), "cls_token": read("cls_token"),
        "pos_embed": read("pos_embed"), "fc_norm": tl.layer_norm(read, "fc_norm"), "head": tl.linear(read, "head"),
    }
    for i in range(cfg["depth"]):
        p = f"blocks.{i}"
        if fused:
            attn = {"qkv": tl.linear(read, f"{p}.attn.qkv", bias=False), "q_bias": read(f"{p}.attn.q_bias"),
                    "v_bias": read(f"{p}.attn.v_bias")}
            mlp = {"fc1": tl.linear(read, f"{p}.mlp.fc1")}
        else:
            attn = {"q_proj": tl.linear(read, f"{p}.attn.q_proj"), "v_proj": tl.linear(read, f"{p}.attn.v_proj"),
                    "k_proj": tl.linear(read, f"{p}.attn.k_proj", bias=False)}
            mlp = {"fc1_g": tl.linear(read, f"{p}.mlp.fc1_g"), "fc1_x": tl.linear(read, f"{p}.mlp.fc1_x"),
                   "norm": tl.layer_norm(read, f"{p}.mlp.norm")}
        attn["proj"] = tl.linear(read, f"{p}.attn.proj")
        mlp["fc2"] = tl.linear(read, f"{p}.mlp.fc2")
        params[f"blocks_{i}"] = {"norm1": tl.layer_norm(read, f"{p}.norm1"), "attn": attn,
                                 "norm2": tl.layer_norm(read, f"{p}.norm2"), "mlp": mlp}
    return params
