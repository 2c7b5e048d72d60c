"""timm / torchvision ``resnet`` state dicts -> :mod:`jaxquba.models.resnet` parameters.

timm's ResNet keeps torchvision's key names (``layer1.0.conv1``, ``downsample.0``/``.1``, ``fc``), so one mapping
serves both sources. The variants add: the deep stem (``conv1.0/1/3/4/6``), the average-pool shortcut (pool at
``downsample.0``, so conv and norm at ``.1``/``.2``) and squeeze-and-excitation (``se.fc1``/``se.fc2``).
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    convs = 2 if cfg["block"] == "basic" else 3
    params: dict[str, Any] = {"bn1": tl.batch_norm(read, "bn1"), "fc": tl.linear(read, "fc")}
    if cfg.get("stem") == "deep":
        for i in (0, 3, 6):
            params[f"conv1_{i}"] = tl.conv2d(read, f"conv1.{i}", bias=False)
        for i in (1, 4):
            params[f"conv1_{i}"] = tl.batch_norm(read, f"conv1.{i}")
    else:
        params["conv1"] = tl.conv2d(read, "conv1", bias=False)
    down = 1 if cfg.get("avg_down") else 0
    for stage, depth in enumerate(cfg["depths"]):
        for i in range(depth):
            p = f"layer{stage + 1}.{i}"
            block = {}
            for j in range(1, convs + 1):
                block[f"conv{j}"] = tl.conv2d(read, f"{p}.conv{j}", bias=False)
                block[f"bn{j}"] = tl.batch_norm(read, f"{p}.bn{j}")
            if cfg.get("se"):
                block["se"] = {"fc1": tl.conv2d(read, f"{p}.se.fc1"), "fc2": tl.conv2d(read, f"{p}.se.fc2")}
            if f"{p}.downsample.{down}.weight" in read:
                block["downsample_conv"] = tl.conv2d(read, f"{p}.downsample.{down}", bias=False)
                block["downsample_bn"] = tl.batch_norm(read, f"{p}.downsample.{down + 1}")
            params[f"layer{stage + 1}_{i}"] = block
    return params
