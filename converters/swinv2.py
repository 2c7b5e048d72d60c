"""timm ``swin_transformer_v2`` state dicts -> :mod:`jaxquba.models.swinv2` parameters.

``relative_coords_table``, ``relative_position_index``, ``k_bias`` and ``attn_mask`` are derived buffers (timm does
not save them; the original Microsoft checkpoints do): accepted when present and recomputed by the module.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo

DERIVED_BUFFERS = ("attn.relative_coords_table", "attn.relative_position_index", "attn.k_bias", "attn_mask")


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
            attn = {"qkv": tl.linear(read, f"{b}.attn.qkv", bias=False), "proj": tl.linear(read, f"{b}.attn.proj"),
                    "q_bias": read(f"{b}.attn.q_bias"), "v_bias": read(f"{b}.attn.v_bias"),
                    "logit_scale": read(f"{b}.attn.logit_scale"),
                    "cpb_mlp_0": tl.linear(read, f"{b}.attn.cpb_mlp.0"),
                    "cpb_mlp_2": tl.linear(read, f"{b}.attn.cpb_mlp.2", bias=False)}
            params[f"layers_{stage}_blocks_{i}"] = {"attn": attn, "norm1": tl.layer_norm(read, f"{b}.norm1"),
                                                    "mlp": tl.mlp(read, f"{b}.mlp"),
                                                    "norm2": tl.layer_norm(read, f"{b}.norm2")}
    return params


def convert_torchvision(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torchvision ``SwinTransformer`` V2 state dicts (``swin_v2_t`` ...) -> the same parameters.

    Module numbering as in :func:`converters.swin.convert_torchvision`. torchvision keeps a full ``qkv.bias`` but
    zeroes its k third in every forward (a clone), so only the q and v thirds are read; the k third is marked used.
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
            for buffer in DERIVED_BUFFERS:
                if f"{b}.{buffer}" in read:
                    read(f"{b}.{buffer}")
            q_bias, _k_bias, v_bias = read(f"{b}.attn.qkv.bias").reshape(3, -1)
            attn = {"qkv": tl.linear(read, f"{b}.attn.qkv", bias=False), "proj": tl.linear(read, f"{b}.attn.proj"),
                    "q_bias": q_bias, "v_bias": v_bias, "logit_scale": read(f"{b}.attn.logit_scale"),
                    "cpb_mlp_0": tl.linear(read, f"{b}.attn.cpb_mlp.0"),
                    "cpb_mlp_2": tl.linear(read, f"{b}.attn.cpb_mlp.2", bias=False)}
            params[f"layers_{stage}_blocks_{i}"] = {
                "attn": attn, "norm1": tl.layer_norm(read, f"{b}.norm1"), "norm2": tl.layer_norm(read, f"{b}.norm2"),
                "mlp": {"fc1": tl.linear(read, f"{b}.mlp.0"), "fc2": tl.linear(read, f"{b}.mlp.3")}}
    return params
