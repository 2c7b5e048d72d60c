"""RegNetY state dicts -> :mod:`jaxquba.models.regnet` parameters, from either layout.

* timm (hub and RSB release checkpoints): ``stem.conv``/``stem.bn``, ``s1.b1.conv1.conv``/``.bn`` ... ``conv3``,
  ``se.fc1``/``se.fc2``, ``downsample.conv``/``.bn``, ``head.fc``.
* torchvision (``regnet_y_*`` IMAGENET1K_V1): ``stem.0``/``stem.1``, ``trunk_output.block1.block1-0.f.a.0``/``.1``
  (``a``, ``b``, ``c`` for the three convs), ``f.se.fc1``/``fc2``, ``proj.0``/``.1``, ``fc``.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def _conv_bn(read: StateDictReader, conv: str, bn: str, name: str) -> dict[str, Any]:
    return {f"{name}_conv": tl.conv2d(read, conv, bias=False), f"{name}_bn": tl.batch_norm(read, bn)}


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    torchvision = "stem.0.weight" in read
    if torchvision:
        params = {**_conv_bn(read, "stem.0", "stem.1", "stem"), "fc": tl.linear(read, "fc")}
    else:
        params = {**_conv_bn(read, "stem.conv", "stem.bn", "stem"), "fc": tl.linear(read, "head.fc")}
    for s, (depth, _, _) in enumerate(spec.config_dict()["stages"]):
        for i in range(depth):
            if torchvision:
                p = f"trunk_output.block{s + 1}.block{s + 1}-{i}"
                convs = {f"conv{j + 1}": (f"{p}.f.{c}.0", f"{p}.f.{c}.1") for j, c in enumerate("abc")}
                se, down = f"{p}.f.se", (f"{p}.proj.0", f"{p}.proj.1")
            else:
                p = f"s{s + 1}.b{i + 1}"
                convs = {f"conv{j}": (f"{p}.conv{j}.conv", f"{p}.conv{j}.bn") for j in (1, 2, 3)}
                se, down = f"{p}.se", (f"{p}.downsample.conv", f"{p}.downsample.bn")
            block: dict[str, Any] = {}
            for name, (conv, bn) in convs.items():
                block.update(_conv_bn(read, conv, bn, name))
            block["se_fc1"] = tl.conv2d(read, f"{se}.fc1")
            block["se_fc2"] = tl.conv2d(read, f"{se}.fc2")
            if f"{down[0]}.weight" in read:
                block.update(_conv_bn(read, *down, "downsample"))
            params[f"s{s + 1}_b{i + 1}"] = block
    return params
