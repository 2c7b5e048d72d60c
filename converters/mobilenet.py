"""timm MobileNetV2 / MobileNetV3 state dicts -> Flax params (module paths match timm's, as for EfficientNet), and
torchvision's MobileNetV2 (IMAGENET1K_V1) layout mapped onto timm's names."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.efficientnet import expand_arch
from jaxquba.models.mobilenet import MOBILENET_V2_ARCH


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Flax params of a ``mobilenet``-family spec from a timm (or torchvision MobileNetV2) state dict."""
    read = reader
    if "features.0.0.weight" in reader:
        if spec.config_dict()["variant"] != "v2":
            raise ValueError(f"{spec.name}: only MobileNetV2 has a torchvision layout here")
        timm_to_tv = torchvision_v2_names()
        read = lambda key: reader(timm_to_tv.get(key, key))  # noqa: E731
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
