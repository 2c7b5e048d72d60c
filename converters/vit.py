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


def convert_torchvision(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torchvision ``VisionTransformer`` state dicts (``vit_b_16`` ...) -> the same parameters.

    torchvision's ViT is timm's class-token ViT under other names: ``conv_proj``, ``class_token``,
    ``encoder.pos_embedding``, per layer ``ln_1``/``ln_2``, ``nn.MultiheadAttention`` (``in_proj`` holds q, k, v in
    timm's fused order) and the MLP as ``mlp.0``/``mlp.3``; ``encoder.ln`` and ``heads.head``.
    """
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "conv_proj"), "cls_token": read("class_token"),
        "pos_embed": read("encoder.pos_embedding"), "norm": tl.layer_norm(read, "encoder.ln"),
        "head": tl.linear(read, "heads.head"),
    }
    for i in range(cfg["depth"]):
        p = f"encoder.layers.encoder_layer_{i}"
        params[f"blocks_{i}"] = {
            "norm1": tl.layer_norm(read, f"{p}.ln_1"), "norm2": tl.layer_norm(read, f"{p}.ln_2"),
            "attn": {"qkv": {"kernel": read(f"{p}.self_attention.in_proj_weight").T,
                             "bias": read(f"{p}.self_attention.in_proj_bias")},
                     "proj": tl.linear(read, f"{p}.self_attention.out_proj")},
            "mlp": {"fc1": tl.linear(read, f"{p}.mlp.0"), "fc2": tl.linear(read, f"{p}.mlp.3")}}
    return params
