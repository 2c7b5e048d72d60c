"""timm ``convnext`` (v1) state dicts -> :mod:`jaxquba.models.convnext` parameters; torchvision's layout
(``features.N``, ``block.0/2/3/5``, ``layer_scale``, ``classifier.0/2``) is read under timm's names."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


class TorchvisionNames:
    """Reads a torchvision ``convnext_*`` state dict by timm's names (the reader tracks what was used)."""

    _BLOCK = {"conv_dw": "block.0", "norm": "block.2", "mlp.fc1": "block.3", "mlp.fc2": "block.5"}

    def __init__(self, reader: StateDictReader):
        self.reader = reader

    def __call__(self, key: str):
        if key.endswith(".gamma"):  # layer scale: (C, 1, 1) in torchvision
            s, i = key.split(".")[1], key.split(".")[3]
            return self.reader(f"features.{2 * int(s) + 1}.{i}.layer_scale").reshape(-1)
        return self.reader(self.name(key))

    def name(self, key: str) -> str:
        module, leaf = key.rsplit(".", 1)
        parts = module.split(".")
        if parts[0] == "stem":
            return f"features.0.{parts[1]}.{leaf}"
        if parts[0] == "head":
            return f"classifier.{0 if parts[1] == 'norm' else 2}.{leaf}"
        stage = int(parts[1])
        if parts[2] == "downsample":
            return f"features.{2 * stage}.{parts[3]}.{leaf}"
        return f"features.{2 * stage + 1}.{parts[3]}.{self._BLOCK['.'.join(parts[4:])]}.{leaf}"


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    if "features.0.0.weight" in read:
        read = TorchvisionNames(read)
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "stem_conv": tl.conv2d(read, "stem.0"), "stem_norm": tl.layer_norm(read, "stem.1"),
        "head_norm": tl.layer_norm(read, "head.norm"), "head_fc": tl.linear(read, "head.fc"),
    }
    for stage, depth in enumerate(cfg["depths"]):
        p = f"stages.{stage}"
        if stage > 0:
            params[f"stages_{stage}_downsample_norm"] = tl.layer_norm(read, f"{p}.downsample.0")
            params[f"stages_{stage}_downsample_conv"] = tl.conv2d(read, f"{p}.downsample.1")
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            params[f"stages_{stage}_blocks_{i}"] = {
                "conv_dw": tl.conv2d(read, f"{b}.conv_dw"), "norm": tl.layer_norm(read, f"{b}.norm"),
                "mlp": tl.mlp(read, f"{b}.mlp"), "ls": {"gamma": read(f"{b}.gamma")}}
    return params
