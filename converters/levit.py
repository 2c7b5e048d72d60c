"""timm ``levit`` (linear, distilled) state dicts -> :mod:`jaxquba.models.levit` parameters.

``attention_bias_idxs`` is derived; the original checkpoints saved it, so it is accepted when present.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def _linear_norm(read: StateDictReader, prefix: str) -> dict[str, Any]:
    return {"linear": tl.linear(read, f"{prefix}.linear", bias=False), "bn": tl.batch_norm(read, f"{prefix}.bn")}


def _mlp(read: StateDictReader, prefix: str) -> dict[str, Any]:
    return {"ln1": _linear_norm(read, f"{prefix}.ln1"), "ln2": _linear_norm(read, f"{prefix}.ln2")}


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    for key in read.keys():
        if key.endswith("attention_bias_idxs"):
            read(key)  # marks it used; the module computes its own
    params: dict[str, Any] = {}
    for head in ("head", "head_dist"):
        params[head] = {"bn": tl.batch_norm(read, f"{head}.bn"), "linear": tl.linear(read, f"{head}.linear")}
    for i in range(1, 5):
        params[f"stem_conv{i}_linear"] = tl.conv2d(read, f"stem.conv{i}.linear", bias=False)
        params[f"stem_conv{i}_bn"] = tl.batch_norm(read, f"stem.conv{i}.bn")
    for stage, depth in enumerate(cfg["depths"]):
        if stage > 0:
            p = f"stages.{stage}.downsample"
            a = f"{p}.attn_downsample"
            params[f"stages_{stage}_downsample_attn_downsample"] = {
                "kv": _linear_norm(read, f"{a}.kv"), "q_ln": _linear_norm(read, f"{a}.q.ln"),
                "proj_ln": _linear_norm(read, f"{a}.proj.ln"), "attention_biases": read(f"{a}.attention_biases")}
            params[f"stages_{stage}_downsample_mlp"] = _mlp(read, f"{p}.mlp")
        for i in range(depth):
            p = f"stages.{stage}.blocks.{i}"
            params[f"stages_{stage}_blocks_{i}_attn"] = {
                "qkv": _linear_norm(read, f"{p}.attn.qkv"), "proj_ln": _linear_norm(read, f"{p}.attn.proj.ln"),
                "attention_biases": read(f"{p}.attn.attention_biases")}
            params[f"stages_{stage}_blocks_{i}_mlp"] = _mlp(read, f"{p}.mlp")
    return params
