"""timm ``vision_transformer`` / ``deit`` state dicts -> :mod:`jaxquba.models.vit` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    qkv_bias = cfg.get("qkv_bias", True)
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"),
        "pos_embed": read("pos_embed"),
        "head": tl.linear(read, "head"),
    }
    for token, present in (("cls_token", cfg.get("class_token", True)), ("dist_token", cfg.get("distilled", False)),
                           ("reg_token", cfg.get("reg_tokens", 0))):
        if present:
            params[token] = read(token)
    if cfg.get("distilled", False):
        params["head_dist"] = tl.linear(read, "head_dist")
    final_norm = "fc_norm" if cfg.get("fc_norm", False) else "norm"
    params[final_norm] = tl.layer_norm(read, final_norm)
    for i in range(cfg["depth"]):
        p = f"blocks.{i}"
        block = {"norm1": tl.layer_norm(read, f"{p}.norm1"), "attn": tl.self_attention(read, f"{p}.attn", qkv_bias),
                 "norm2": tl.layer_norm(read, f"{p}.norm2"), "mlp": tl.mlp(read, f"{p}.mlp")}
        if cfg.get("layer_scale", False):
            block["ls1"] = {"gamma": read(f"{p}.ls1.gamma")}
            block["ls2"] = {"gamma": read(f"{p}.ls2.gamma")}
        params[f"blocks_{i}"] = block
    return params
