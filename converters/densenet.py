"""timm / torchvision ``densenet`` state dicts (``features.denseblock1.denselayer1.norm1`` ..., ``classifier``) ->
:mod:`jaxquba.models.densenet` parameters (the Flax names are the module paths below ``features`` with ``_``)."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    blocks = spec.config_dict()["blocks"]
    params: dict[str, Any] = {"conv0": tl.conv2d(read, "features.conv0", bias=False),
                              "norm0": tl.batch_norm(read, "features.norm0"),
                              "norm5": tl.batch_norm(read, "features.norm5"),
                              "classifier": tl.linear(read, "classifier")}
    for b, depth in enumerate(blocks):
        for i in range(depth):
            p = f"denseblock{b + 1}.denselayer{i + 1}"
            for j in (1, 2):
                params[f"{p.replace('.', '_')}_norm{j}"] = tl.batch_norm(read, f"features.{p}.norm{j}")
                params[f"{p.replace('.', '_')}_conv{j}"] = tl.conv2d(read, f"features.{p}.conv{j}", bias=False)
        if b < len(blocks) - 1:
            params[f"transition{b + 1}_norm"] = tl.batch_norm(read, f"features.transition{b + 1}.norm")
            params[f"transition{b + 1}_conv"] = tl.conv2d(read, f"features.transition{b + 1}.conv", bias=False)
    return params
