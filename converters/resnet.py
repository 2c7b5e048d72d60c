"""timm / torchvision ``resnet`` state dicts -> :mod:`jaxquba.models.resnet` parameters.

timm's ResNet keeps torchvision's key names (``layer1.0.conv1``, ``downsample.0``/``.1``, ``fc``), so one mapping
serves both sources.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    convs = 2 if cfg["block"] == "basic" else 3
    params: dict[str, Any] = {"conv1": tl.conv2d(read, "conv1", bias=False), "bn1": tl.batch_norm(read, "bn1"),
                              "fc": tl.linear(read, "fc")}
    for stage, depth in enumerate(cfg["depths"]):
        for i in range(depth):
            p = f"layer{stage + 1}.{i}"
            block = {}
            for j in range(1, convs + 1):
                block[f"conv{j}"] = tl.conv2d(read, f"{p}.conv{j}", bias=False)
                block[f"bn{j}"] = tl.batch_norm(read, f"{p}.bn{j}")
            if f"{p}.downsample.0.weight" in read:
                block["downsample_conv"] = tl.conv2d(read, f"{p}.downsample.0", bias=False)
                block["downsample_bn"] = tl.batch_norm(read, f"{p}.downsample.1")
            params[f"layer{stage + 1}_{i}"] = block
    return params
