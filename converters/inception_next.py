"""timm ``inception_next`` state dicts -> :mod:`jaxquba.models.inception_next` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv": tl.conv2d(read, "stem.0"), "stem_norm": tl.batch_norm(read, "stem.1"),
        "head_fc1": tl.linear(read, "head.fc1"), "head_norm": tl.layer_norm(read, "head.norm"),
        "head_fc2": tl.linear(read, "head.fc2"),
    }
    for s, depth in enumerate(cfg["depths"]):
        if s > 0:
            params[f"stages_{s}_down_norm"] = tl.batch_norm(read, f"stages.{s}.downsample.0")
            params[f"stages_{s}_down_conv"] = tl.conv2d(read, f"stages.{s}.downsample.1")
        for b in range(depth):
            p = f"stages.{s}.blocks.{b}"
            params[f"stages_{s}_blocks_{b}"] = {
                "token_mixer": {name: tl.conv2d(read, f"{p}.token_mixer.{name}")
                                for name in ("dwconv_hw", "dwconv_w", "dwconv_h")},
                "norm": tl.batch_norm(read, f"{p}.norm"), "fc1": tl.conv2d(read, f"{p}.mlp.fc1"),
                "fc2": tl.conv2d(read, f"{p}.mlp.fc2"), "ls": {"gamma": read(f"{p}.gamma")},
            }
    return params
