"""timm ``tiny_vit`` state dicts -> :mod:`jaxquba.models.tiny_vit` parameters.

``attention_bias_idxs`` is a derived buffer (timm does not save it, the original checkpoints do): accepted when
present, recomputed by the module.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def _conv_norm(read: StateDictReader, prefix: str) -> dict[str, Any]:
    return {"conv": tl.conv2d(read, f"{prefix}.conv", bias=False), "bn": tl.batch_norm(read, f"{prefix}.bn")}


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    for key in read.keys():
        if key.endswith(".attn.attention_bias_idxs"):
            read(key)  # marks it used; the module computes its own
    params: dict[str, Any] = {
        "patch_embed_conv1": _conv_norm(read, "patch_embed.conv1"),
        "patch_embed_conv2": _conv_norm(read, "patch_embed.conv2"),
        "head_norm": tl.layer_norm(read, "head.norm"), "head_fc": tl.linear(read, "head.fc"),
    }
    for i in range(cfg["depths"][0]):
        p = f"stages.0.blocks.{i}"
        params[f"stages_0_blocks_{i}"] = {name: _conv_norm(read, f"{p}.{name}") for name in ("conv1", "conv2", "conv3")}
    for stage in range(1, len(cfg["depths"])):
        p = f"stages.{stage}"
        params[f"stages_{stage}_downsample"] = {name: _conv_norm(read, f"{p}.downsample.{name}")
                                                for name in ("conv1", "conv2", "conv3")}
        for i in range(cfg["depths"][stage]):
            b = f"{p}.blocks.{i}"
            params[f"stages_{stage}_blocks_{i}"] = {
                "attn": {"attention_biases": read(f"{b}.attn.attention_biases"),
                         "norm": tl.layer_norm(read, f"{b}.attn.norm"), "qkv": tl.linear(read, f"{b}.attn.qkv"),
                         "proj": tl.linear(read, f"{b}.attn.proj")},
                "local_conv": _conv_norm(read, f"{b}.local_conv"),
                "mlp_norm": tl.layer_norm(read, f"{b}.mlp.norm"), "mlp": tl.mlp(read, f"{b}.mlp")}
    return params
