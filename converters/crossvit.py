"""timm ``crossvit`` (dagger) state dicts -> :mod:`jaxquba.models.crossvit` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {}
    for i in range(2):
        params[f"cls_token_{i}"] = read(f"cls_token_{i}")
        params[f"pos_embed_{i}"] = read(f"pos_embed_{i}")
        for j in (0, 2, 4):
            params[f"patch_embed_{i}_proj_{j}"] = tl.conv2d(read, f"patch_embed.{i}.proj.{j}")
        params[f"norm_{i}"] = tl.layer_norm(read, f"norm.{i}")
        params[f"head_{i}"] = tl.linear(read, f"head.{i}")
    for k in range(cfg.get("num_blocks", 3)):
        p = f"blocks.{k}"
        block: dict[str, Any] = {}
        for b in range(2):
            for i in range(cfg["depths"][b]):
                q = f"{p}.blocks.{b}.{i}"
                block[f"blocks_{b}_{i}"] = {"norm1": tl.layer_norm(read, f"{q}.norm1"),
                                            "attn": tl.self_attention(read, f"{q}.attn"),
                                            "norm2": tl.layer_norm(read, f"{q}.norm2"), "mlp": tl.mlp(read, f"{q}.mlp")}
            for proj in ("projs", "revert_projs"):
                block[f"{proj}_{b}"] = {"norm": tl.layer_norm(read, f"{p}.{proj}.{b}.0"),
                                        "fc": tl.linear(read, f"{p}.{proj}.{b}.2")}
            block[f"fusion_{b}_norm1"] = tl.layer_norm(read, f"{p}.fusion.{b}.norm1")
            block[f"fusion_{b}_attn"] = {"q": tl.linear(read, f"{p}.fusion.{b}.attn.wq"),
                                         "k": tl.linear(read, f"{p}.fusion.{b}.attn.wk"),
                                         "v": tl.linear(read, f"{p}.fusion.{b}.attn.wv"),
                                         "proj": tl.linear(read, f"{p}.fusion.{b}.attn.proj")}
        params[f"blocks_{k}"] = block
    return params
