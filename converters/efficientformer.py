"""timm ``efficientformer`` state dicts -> :mod:`jaxquba.models.efficientformer` parameters.

``attention_bias_idxs`` is a saved but derived buffer: read (so it counts as used) and recomputed by the module.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.efficientformer import stage_layout


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {"norm": tl.layer_norm(read, "norm"), "head": tl.linear(read, "head"),
                              "head_dist": tl.linear(read, "head_dist")}
    for i in (1, 2):
        params[f"stem_conv{i}"] = tl.conv2d(read, f"stem.conv{i}")
        params[f"stem_norm{i}"] = tl.batch_norm(read, f"stem.norm{i}")
    last = len(cfg["depths"]) - 1
    for stage, depth in enumerate(cfg["depths"]):
        p = f"stages.{stage}"
        if stage > 0:
            params[f"stages_{stage}_downsample_conv"] = tl.conv2d(read, f"{p}.downsample.conv")
            params[f"stages_{stage}_downsample_norm"] = tl.batch_norm(read, f"{p}.downsample.norm")
        for i, kind in enumerate(stage_layout(depth, cfg["num_vit"] if stage == last else 0)):
            b = f"{p}.blocks.{i}"
            if kind == "flat":
                continue
            block = {"ls1_gamma": read(f"{b}.ls1.gamma"), "ls2_gamma": read(f"{b}.ls2.gamma")}
            if kind == "pool":
                for j in (1, 2):
                    block[f"mlp_fc{j}"] = tl.conv2d(read, f"{b}.mlp.fc{j}")
                    block[f"mlp_norm{j}"] = tl.batch_norm(read, f"{b}.mlp.norm{j}")
            else:
                read(f"{b}.token_mixer.attention_bias_idxs")
                block.update({"norm1": tl.layer_norm(read, f"{b}.norm1"), "norm2": tl.layer_norm(read, f"{b}.norm2"),
                              "token_mixer": {"qkv": tl.linear(read, f"{b}.token_mixer.qkv"),
                                              "proj": tl.linear(read, f"{b}.token_mixer.proj"),
                                              "attention_biases": read(f"{b}.token_mixer.attention_biases")},
                              "mlp": tl.mlp(read, f"{b}.mlp")})
            params[f"stages_{stage}_blocks_{i}"] = block
    return params
