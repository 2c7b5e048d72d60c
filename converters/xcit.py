"""timm ``xcit`` state dicts -> :mod:`jaxquba.models.xcit` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "pos_embed_token_projection": tl.conv2d(read, "pos_embed.token_projection"), "cls_token": read("cls_token"),
        "norm": tl.layer_norm(read, "norm"), "head": tl.linear(read, "head"),
    }
    for i in range(4):
        params[f"patch_embed_proj_{2 * i}_0"] = tl.conv2d(read, f"patch_embed.proj.{2 * i}.0", bias=False)
        params[f"patch_embed_proj_{2 * i}_1"] = tl.batch_norm(read, f"patch_embed.proj.{2 * i}.1")
    for i in range(cfg["depth"]):
        p = f"blocks.{i}"
        params[f"blocks_{i}"] = {
            **{n: tl.layer_norm(read, f"{p}.{n}") for n in ("norm1", "norm2", "norm3")},
            **{g: read(f"{p}.{g}") for g in ("gamma1", "gamma2", "gamma3")},
            "attn": {"qkv": tl.linear(read, f"{p}.attn.qkv"), "proj": tl.linear(read, f"{p}.attn.proj"),
                     "temperature": read(f"{p}.attn.temperature")},
            **{f"local_mp_{n}": tl.conv2d(read, f"{p}.local_mp.{n}") for n in ("conv1", "conv2")},
            "local_mp_bn": tl.batch_norm(read, f"{p}.local_mp.bn"), "mlp": tl.mlp(read, f"{p}.mlp")}
    for i in range(2):
        p = f"cls_attn_blocks.{i}"
        params[f"cls_attn_blocks_{i}"] = {
            "norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
            "gamma1": read(f"{p}.gamma1"), "gamma2": read(f"{p}.gamma2"), "mlp": tl.mlp(read, f"{p}.mlp"),
            "attn": {n: tl.linear(read, f"{p}.attn.{n}") for n in ("q", "k", "v", "proj")}}
    return params
