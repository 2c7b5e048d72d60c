"""timm ``swin_transformer`` (v1) state dicts -> :mod:`jaxquba.models.swin` parameters.

``relative_position_index`` and ``attn_mask`` are derived buffers that the Flax module recomputes; timm does not save
them, but checkpoints from the original Microsoft code do, so they are accepted (and ignored) when present.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo

DERIVED_BUFFERS = ("attn.relative_position_index", "attn_mask")


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed_proj": tl.conv2d(read, "patch_embed.proj"),
        "patch_embed_norm": tl.layer_norm(read, "patch_embed.norm"),
        "norm": tl.layer_norm(read, "norm"), "head_fc": tl.linear(read, "head.fc"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        p = f"layers.{stage}"
        if stage > 0:
            params[f"layers_{stage}_downsample"] = {"norm": tl.layer_norm(read, f"{p}.downsample.norm"),
                                                    "reduction": tl.linear(read, f"{p}.downsample.reduction", False)}
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            for buffer in DERIVED_BUFFERS:
                if f"{b}.{buffer}" in read:
                    read(f"{b}.{buffer}")  # marks it used; the module computes its own
            params[f"layers_{stage}_blocks_{i}"] = {
                "relative_position_bias_table": read(f"{b}.attn.relative_position_bias_table"),
                "norm1": tl.layer_norm(read, f"{b}.norm1"), "attn": tl.self_attention(read, f"{b}.attn"),
                "norm2": tl.layer_norm(read, f"{b}.norm2"), "mlp": tl.mlp(read, f"{b}.mlp")}
    return params


def convert_torchvision(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torchvision ``SwinTransformer`` state dicts (``swin_t`` ...) -> the same parameters.

    torchvision numbers the stem ``features.0`` (conv ``.0``, LayerNorm ``.2``), stage s's blocks ``features.{2s+1}``
    and the patch merging before stage s ``features.{2s}``; the MLP is ``mlp.0``/``mlp.3``; ``norm`` and ``head``.
    Its patch merging concatenates the 2x2 neighbours in timm's order, and it saves ``relative_position_index``.
    """
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed_proj": tl.conv2d(read, "features.0.0"), "patch_embed_norm": tl.layer_norm(read, "features.0.2"),
        "norm": tl.layer_norm(read, "norm"), "head_fc": tl.linear(read, "head"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        if stage > 0:
            p = f"features.{2 * stage}"
            params[f"layers_{stage}_downsample"] = {"norm": tl.layer_norm(read, f"{p}.norm"),
                                                    "reduction": tl.linear(read, f"{p}.reduction", False)}
        for i in range(depth):
            b = f"features.{2 * stage + 1}.{i}"
            if f"{b}.attn.relative_position_index" in read:
                read(f"{b}.attn.relative_position_index")  # derived; the module computes its own
            params[f"layers_{stage}_blocks_{i}"] = {
                "relative_position_bias_table": read(f"{b}.attn.relative_position_bias_table"),
                "norm1": tl.layer_norm(read, f"{b}.norm1"), "attn": tl.self_attention(read, f"{b}.attn"),
                "norm2": tl.layer_norm(read, f"{b}.norm2"),
                "mlp": {"fc1": tl.linear(read, f"{b}.mlp.0"), "fc2": tl.linear(read, f"{b}.mlp.3")}}
    return params
