"""timm ``maxxvit`` state dicts of the ``maxvit_*_tf`` models (and torchvision's ``MaxVit``) -> :mod:`jaxquba.models.maxvit`
parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.maxvit import HEAD_DIM


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


def convert_torchvision(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torchvision ``MaxVit`` state dicts (``maxvit_t``) -> the same parameters.

    Names: ``stem.0.0``/``stem.0.1``/``stem.1.0``; per layer ``MBconv.proj.1`` (shortcut), ``MBconv.layers.{pre_norm,
    conv_a, conv_b, squeeze_excitation, conv_c}``, ``{window,grid}_attention.attn_layer.{0 (norm), 1 (attention)}``
    and ``mlp_layer.{0, 1, 3}``; ``classifier.{2, 3, 5}``. The bias table is (13 x 13, heads) indexed by query minus
    key offsets: flipped on both axes it is the TF table indexed by key minus query. torchvision scales logits by
    width^-0.5, not head_dim^-0.5: the query rows of ``to_qkv`` are multiplied by sqrt(head_dim / width).
    """
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv1": tl.conv2d(read, "stem.0.0", bias=False), "stem_norm1": tl.batch_norm(read, "stem.0.1"),
        "stem_conv2": tl.conv2d(read, "stem.1.0"), "head_norm": tl.layer_norm(read, "classifier.2"),
        "head_pre_logits": tl.linear(read, "classifier.3"), "head_fc": tl.linear(read, "classifier.5", bias=False),
    }
    for s, (dim, depth) in enumerate(zip(cfg["embed_dims"], cfg["depths"])):
        for i in range(depth):
            p = f"blocks.{s}.layers.{i}.layers"
            m = f"{p}.MBconv.layers"
            conv = {"pre_norm": tl.batch_norm(read, f"{m}.pre_norm"),
                    "conv1": tl.conv2d(read, f"{m}.conv_a.0", bias=False), "norm1": tl.batch_norm(read, f"{m}.conv_a.1"),
                    "conv2": tl.conv2d(read, f"{m}.conv_b.0", bias=False), "norm2": tl.batch_norm(read, f"{m}.conv_b.1"),
                    "se_fc1": tl.conv2d(read, f"{m}.squeeze_excitation.fc1"),
                    "se_fc2": tl.conv2d(read, f"{m}.squeeze_excitation.fc2"), "conv3": tl.conv2d(read, f"{m}.conv_c")}
            if f"{p}.MBconv.proj.1.weight" in read:
                conv["shortcut"] = tl.conv2d(read, f"{p}.MBconv.proj.1")
            params[f"stages_{s}_{i}_conv"] = conv
            for ours, theirs in (("attn_block", "window_attention"), ("attn_grid", "grid_attention")):
                params[f"stages_{s}_{i}_{ours}"] = _torchvision_attention(read, f"{p}.{theirs}", dim)
    return params


def _torchvision_attention(read: StateDictReader, p: str, dim: int) -> dict[str, Any]:
    a = f"{p}.attn_layer.1"
    table = read(f"{a}.relative_position_bias_table")  # ((2P-1)^2, heads)
    side = int(round(table.shape[0] ** 0.5))
    if f"{a}.relative_position_index" in read:
        read(f"{a}.relative_position_index")  # derived; the module computes its own lookup
    qkv = tl.linear(read, f"{a}.to_qkv")
    query_scale = (HEAD_DIM / dim) ** 0.5
    qkv["kernel"] = np.concatenate([qkv["kernel"][:, :dim] * query_scale, qkv["kernel"][:, dim:]], axis=1)
    qkv["bias"] = np.concatenate([qkv["bias"][:dim] * query_scale, qkv["bias"][dim:]])
    return {"norm1": tl.layer_norm(read, f"{p}.attn_layer.0"), "norm2": tl.layer_norm(read, f"{p}.mlp_layer.0"),
            "attn": {"qkv": qkv, "proj": tl.linear(read, f"{a}.merge")},
            "relative_position_bias_table": table.reshape(side, side, -1)[::-1, ::-1].transpose(2, 0, 1),
            "fc1": tl.linear(read, f"{p}.mlp_layer.1"), "fc2": tl.linear(read, f"{p}.mlp_layer.3")}
