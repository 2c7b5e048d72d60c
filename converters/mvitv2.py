"""timm ``mvitv2`` state dicts -> :mod:`jaxquba.models.mvitv2` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.mvitv2 import block_plan


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    expand = cfg.get("expand_attn", True)
    params: dict[str, Any] = {"patch_embed": tl.conv2d(read, "patch_embed.proj"), "norm": tl.layer_norm(read, "norm"),
                              "head_fc": tl.linear(read, "head.fc")}
    dim = cfg["embed_dim"]
    for stage, blocks in enumerate(block_plan(cfg["depths"], cfg["embed_dim"], cfg["num_heads"], expand)):
        for i, (dim_out, *_rest) in enumerate(blocks):
            p = f"stages.{stage}.blocks.{i}"
            attn = {"qkv": tl.linear(read, f"{p}.attn.qkv"), "proj": tl.linear(read, f"{p}.attn.proj"),
                    "rel_pos_h": read(f"{p}.attn.rel_pos_h"), "rel_pos_w": read(f"{p}.attn.rel_pos_w")}
            for t in ("q", "k", "v"):
                attn[f"pool_{t}"] = tl.conv2d(read, f"{p}.attn.pool_{t}", bias=False)
                attn[f"norm_{t}"] = tl.layer_norm(read, f"{p}.attn.norm_{t}")
            block = {"norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
                     "attn": attn, "mlp": tl.mlp(read, f"{p}.mlp")}
            if dim != dim_out:
                name = "shortcut_proj_attn" if expand else "shortcut_proj_mlp"
                block[name] = tl.linear(read, f"{p}.{name}")
            params[f"stages_{stage}_blocks_{i}"], dim = block, dim_out
    return params
