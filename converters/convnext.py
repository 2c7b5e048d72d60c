"""timm ``convnext`` (v1 and v2) state dicts -> :mod:`jaxquba.models.convnext` parameters; torchvision's layout
(``features.N``, ``block.0/2/3/5``, ``layer_scale``, ``classifier.0/2``) is read under timm's names, and the
convolutional stem of RobustBench's ConvStem models under ``stem.stem.N``."""

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


def mlp_linear(read, prefix: str) -> dict[str, Any]:
    """An MLP layer stored as ``nn.Linear`` (out, in) or, with timm's ``conv_mlp``, as a 1x1 conv (out, in, 1, 1)."""
    weight = read(f"{prefix}.weight")
    return {"kernel": weight.reshape(weight.shape[0], -1).T, "bias": read(f"{prefix}.bias")}


def block_mlp(read, prefix: str, grn: bool) -> dict[str, Any]:
    """``Mlp`` (v1) or ``GlobalResponseNormMlp`` (v2, with the GRN's weight and bias)."""
    params = {"fc1": mlp_linear(read, f"{prefix}.fc1"), "fc2": mlp_linear(read, f"{prefix}.fc2")}
    if grn:
        params["grn"] = {"weight": read(f"{prefix}.grn.weight"), "bias": read(f"{prefix}.grn.bias")}
    return params


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    if "features.0.0.weight" in read:
        read = TorchvisionNames(read)
    return convert_network(read, spec.config_dict())


def convert_network(read, cfg: dict[str, Any], classifier: bool = True) -> dict[str, Any]:
    """A timm ConvNeXt of config ``cfg`` (depths, grn); ``classifier=False``: without ``head.fc`` (the module's
    ``num_classes=0``, e.g. OpenCLIP's image trunk)."""
    params: dict[str, Any] = {"head_norm": tl.layer_norm(read, "head.norm")}
    if cfg.get("conv_stem"):  # RobustBench's ConvBlock1 / ConvBlock3 as the model's ``stem``: its own ``stem`` list
        params["stem"] = tl.conv_stem(read, "stem.stem", len(cfg["conv_stem"]), proj=False)
    else:
        params["stem_conv"] = tl.conv2d(read, "stem.0")
        params["stem_norm"] = tl.layer_norm(read, "stem.1")
    if classifier:
        params["head_fc"] = tl.linear(read, "head.fc")
    for stage, depth in enumerate(cfg["depths"]):
        p = f"stages.{stage}"
        if stage > 0:
            params[f"stages_{stage}_downsample_norm"] = tl.layer_norm(read, f"{p}.downsample.0")
            params[f"stages_{stage}_downsample_conv"] = tl.conv2d(read, f"{p}.downsample.1")
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            block = {"conv_dw": tl.conv2d(read, f"{b}.conv_dw"), "norm": tl.layer_norm(read, f"{b}.norm"),
                     "mlp": block_mlp(read, f"{b}.mlp", cfg.get("grn", False))}
            if not cfg.get("grn", False):  # v2 has no layer scale
                block["ls"] = {"gamma": read(f"{b}.gamma")}
            params[f"stages_{stage}_blocks_{i}"] = block
    return params
