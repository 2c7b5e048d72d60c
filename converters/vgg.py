"""timm ``vgg`` state dicts (``features.N``, ``pre_logits.fc1/fc2`` convs, ``head.fc``) -> :mod:`jaxquba.models.vgg`."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.vgg import feature_indices


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {"fc1": tl.conv2d(read, "pre_logits.fc1"), "fc2": tl.conv2d(read, "pre_logits.fc2"),
                              "head": tl.linear(read, "head.fc")}
    for _, index in feature_indices(cfg["depth"], cfg.get("batch_norm", False)):
        params[f"features_{index}"] = tl.conv2d(read, f"features.{index}")
        if cfg.get("batch_norm"):
            params[f"features_{index + 1}"] = tl.batch_norm(read, f"features.{index + 1}")
    return params
