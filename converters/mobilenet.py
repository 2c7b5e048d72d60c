"""timm MobileNetV2 / MobileNetV3 state dicts -> Flax params (module paths match timm's, as for EfficientNet), and
torchvision's MobileNetV2 and MobileNetV3-Large/Small (IMAGENET1K_V1) layouts mapped onto timm's names."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.efficientnet import expand_arch
from jaxquba.models.mobilenet import MOBILENET_V2_ARCH, mobilenet_v3_stages


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Flax params of a ``mobilenet``-family spec from a timm (or torchvision) state dict."""
    read = reader
    if "features.0.0.weight" in reader:
        variant = spec.config_dict()["variant"]
        timm_to_tv = torchvision_v2_names() if variant == "v2" else torchvision_v3_names(variant)

        def read(key):
            tensor = reader(timm_to_tv.get(key, key))
            # torchvision's V3 head is a Linear on the pooled features; timm's the same weights as a 1x1 conv.
            return tensor.reshape(*tensor.shape, 1, 1) if key == "conv_head.weight" and tensor.ndim == 2 else tensor
    return convert_by_module_names(read, expected_params(spec))


def torchvision_v2_names() -> dict[str, str]:
    """timm parameter name -> torchvision ``mobilenet_v2`` name: ``features.0`` stem, ``features.{k}.conv`` the
    k-th block (numbered across stages: [expand ConvNormAct,] depthwise ConvNormAct, project conv, its norm),
    ``features.18`` head, ``classifier.1``."""
    names = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": "features.18.0",
             "bn2": "features.18.1", "classifier": "classifier.1"}
    k = 1
    for s, stage in enumerate(expand_arch(MOBILENET_V2_ARCH, 32, "relu6", 1.0, 1.0)):
        for i, block in enumerate(stage):
            timm, tv = f"blocks.{s}.{i}", f"features.{k}.conv"
            if block.kind == "ds":
                names.update({f"{timm}.conv_dw": f"{tv}.0.0", f"{timm}.bn1": f"{tv}.0.1",
                              f"{timm}.conv_pw": f"{tv}.1", f"{timm}.bn2": f"{tv}.2"})
            else:
                names.update({f"{timm}.conv_pw": f"{tv}.0.0", f"{timm}.bn1": f"{tv}.0.1",
                              f"{timm}.conv_dw": f"{tv}.1.0", f"{timm}.bn2": f"{tv}.1.1",
                              f"{timm}.conv_pwl": f"{tv}.2", f"{timm}.bn3": f"{tv}.3"})
            k += 1
    return {f"{timm}.{leaf}": f"{tv}.{leaf}" for timm, tv in names.items()
            for leaf in ("weight", "bias", "running_mean", "running_var")}


def torchvision_v3_names(variant: str) -> dict[str, str]:
    """timm parameter name -> torchvision ``mobilenet_v3_large`` / ``mobilenet_v3_small`` name:
    ``features.{k}.block`` slots ([expand,] depthwise, [SE ``fc1``/``fc2``,] project; each conv + norm as
    ``.0``/``.1``), the last ``features`` entry the 1x1 ConvNormAct (timm's ``cn`` stage), ``classifier.0`` the
    head (timm's ``conv_head``), ``classifier.3``."""
    stages = mobilenet_v3_stages(variant)
    names = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": "classifier.0",
             "classifier": "classifier.3"}
    k = 1
    for s, stage in enumerate(stages):
        for i, block in enumerate(stage):
            timm, tv = f"blocks.{s}.{i}", f"features.{k}"
            if block.kind == "cn":
                names.update({f"{timm}.conv": f"{tv}.0", f"{timm}.bn1": f"{tv}.1"})
            else:
                layout = ([] if block.kind == "ds" else [("conv_pw", "bn1")]) + [
                    ("conv_dw", "bn1" if block.kind == "ds" else "bn2")] + (["se"] if block.se_chs else []) + [
                    ("conv_pw", "bn2") if block.kind == "ds" else ("conv_pwl", "bn3")]
                for slot, part in enumerate(layout):
                    if part == "se":
                        names[f"{timm}.se.conv_reduce"] = f"{tv}.block.{slot}.fc1"
                        names[f"{timm}.se.conv_expand"] = f"{tv}.block.{slot}.fc2"
                    else:
                        names[f"{timm}.{part[0]}"] = f"{tv}.block.{slot}.0"
                        names[f"{timm}.{part[1]}"] = f"{tv}.block.{slot}.1"
            k += 1
    return {f"{timm}.{leaf}": f"{tv}.{leaf}" for timm, tv in names.items()
            for leaf in ("weight", "bias", "running_mean", "running_var")}
