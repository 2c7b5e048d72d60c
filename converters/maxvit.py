"""timm ``maxxvit`` state dicts of the ``maxvit_*_tf`` models -> :mod:`jaxquba.models.maxvit` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def _attention(read: StateDictReader, p: str) -> dict[str, Any]:
    return {"norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
            "attn": tl.self_attention(read, f"{p}.attn"),
            "relative_position_bias_table": read(f"{p}.attn.rel_pos.relative_position_bias_table"),
            "fc1": tl.linear(read, f"{p}.mlp.fc1"), "fc2": tl.linear(read, f"{p}.mlp.fc2")}


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv1": tl.conv2d(read, "stem.conv1"), "stem_norm1": tl.batch_norm(read, "stem.norm1"),
        "stem_conv2": tl.conv2d(read, "stem.conv2"), "head_norm": tl.layer_norm(read, "head.norm"),
        "head_pre_logits": tl.linear(read, "head.pre_logits.fc"), "head_fc": tl.linear(read, "head.fc"),
    }
    for s, depth in enumerate(cfg["depths"]):
        for i in range(depth):
            p = f"stages.{s}.blocks.{i}"
            conv = {"pre_norm": tl.batch_norm(read, f"{p}.conv.pre_norm"),
                    "conv1": tl.conv2d(read, f"{p}.conv.conv1_1x1", bias=False),
                    "norm1": tl.batch_norm(read, f"{p}.conv.norm1"),
                    "conv2": tl.conv2d(read, f"{p}.conv.conv2_kxk", bias=False),
                    "norm2": tl.batch_norm(read, f"{p}.conv.norm2"),
                    "se_fc1": tl.conv2d(read, f"{p}.conv.se.fc1"), "se_fc2": tl.conv2d(read, f"{p}.conv.se.fc2"),
                    "conv3": tl.conv2d(read, f"{p}.conv.conv3_1x1")}
            if f"{p}.conv.shortcut.expand.weight" in read:
                conv["shortcut"] = tl.conv2d(read, f"{p}.conv.shortcut.expand")
            params[f"stages_{s}_{i}_conv"] = conv
            params[f"stages_{s}_{i}_attn_block"] = _attention(read, f"{p}.attn_block")
            params[f"stages_{s}_{i}_attn_grid"] = _attention(read, f"{p}.attn_grid")
    return params
