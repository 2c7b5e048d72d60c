"""MobileNetV2 and MobileNetV3-Large/Small in Flax, built from the EfficientNet block machinery (timm's own design).

* MobileNetV2 (timm ``mobilenetv2_100``): ReLU6 inverted residuals without squeeze-excite, a 1x1 conv + BN head.
* MobileNetV3-Large (timm ``mobilenetv3_large_100``): hard-swish (ReLU in the first stages), squeeze-excite with a
  ReLU bottleneck and a hard-sigmoid gate whose width is a multiple of 8 of the *expanded* channels, and a head that
  pools first and then applies a 1x1 conv with bias and hard-swish, without batch norm.
* MobileNetV3-Small (timm ``mobilenetv3_small_100``): the same machinery on the Small block table (squeeze-excite
  already in the first, depthwise-separable block) and a 1024-channel head.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import register_family
from jaxquba.models.efficientnet import MobileNetStyleNet, StageDef, expand_arch

MOBILENET_V2_ARCH = (
    (StageDef("ds", 1, 3, 1, 16),),
    (StageDef("ir", 2, 3, 2, 24, 6),),
    (StageDef("ir", 3, 3, 2, 32, 6),),
    (StageDef("ir", 4, 3, 2, 64, 6),),
    (StageDef("ir", 3, 3, 1, 96, 6),),
    (StageDef("ir", 3, 3, 2, 160, 6),),
    (StageDef("ir", 1, 3, 1, 320, 6),),
)

MOBILENET_V3_LARGE_ARCH = (
    (StageDef("ds", 1, 3, 1, 16, act="relu"),),
    (StageDef("ir", 1, 3, 2, 24, 4, act="relu"), StageDef("ir", 1, 3, 1, 24, 3, act="relu")),
    (StageDef("ir", 3, 5, 2, 40, 3, 0.25, act="relu"),),
    (StageDef("ir", 1, 3, 2, 80, 6), StageDef("ir", 1, 3, 1, 80, 2.5), StageDef("ir", 2, 3, 1, 80, 2.3)),
    (StageDef("ir", 2, 3, 1, 112, 6, 0.25),),
    (StageDef("ir", 3, 5, 2, 160, 6, 0.25),),
    (StageDef("cn", 1, 1, 1, 960),),
)

MOBILENET_V3_SMALL_ARCH = (
    (StageDef("ds", 1, 3, 2, 16, 1, 0.25, act="relu"),),
    (StageDef("ir", 1, 3, 2, 24, 4.5, act="relu"), StageDef("ir", 1, 3, 1, 24, 3.67, act="relu")),
    (StageDef("ir", 1, 5, 2, 40, 4, 0.25), StageDef("ir", 2, 5, 1, 40, 6, 0.25)),
    (StageDef("ir", 2, 5, 1, 48, 3, 0.25),),
    (StageDef("ir", 3, 5, 2, 96, 6, 0.25),),
    (StageDef("cn", 1, 1, 1, 576),),
)

# variant -> (block table, head width) of the MobileNetV3s.
MOBILENET_V3 = {"v3_large": (MOBILENET_V3_LARGE_ARCH, 1280), "v3_small": (MOBILENET_V3_SMALL_ARCH, 1024)}


def mobilenet_v3_stages(variant: str):
    """The concrete blocks of a MobileNetV3 variant (16-channel stem, SE widths from the expanded channels)."""
    return expand_arch(MOBILENET_V3[variant][0], 16, "hard_swish", 1.0, 1.0, se_from_expanded=True, se_round=True)


def build_mobilenet(variant: str, bn_eps: float = 1e-5, num_classes: int = 1000,
                    dtype=jnp.float32) -> MobileNetStyleNet:
    """timm ``mobilenetv2_100`` (variant 'v2'), ``mobilenetv3_large_100`` ('v3_large') or ``mobilenetv3_small_100``
    ('v3_small'), width 1.0. ``bn_eps``: the batch norms' epsilon (torchvision's MobileNetV3s use 1e-3)."""
    if variant == "v2":
        return MobileNetStyleNet(stages=expand_arch(MOBILENET_V2_ARCH, 32, "relu6", 1.0, 1.0), stem_chs=32,
                                 head_chs=1280, act="relu6", bn_eps=bn_eps, num_classes=num_classes, dtype=dtype)
    if variant in MOBILENET_V3:
        return MobileNetStyleNet(stages=mobilenet_v3_stages(variant), stem_chs=16, head_chs=MOBILENET_V3[variant][1],
                                 act="hard_swish", head="pool_conv", bn_eps=bn_eps, se_act="relu",
                                 se_gate="hard_sigmoid", num_classes=num_classes, dtype=dtype)
    raise ValueError(f"unknown MobileNet variant {variant!r}")


register_family("mobilenet", build_mobilenet, converter="converters.mobilenet:convert")


def _register(name, variant, num_params, aliases=(), url=None, bn_eps=1e-5, **data):
    config = zoo.config(variant=variant) if bn_eps == 1e-5 else zoo.config(variant=variant, bn_eps=bn_eps)
    zoo.register(zoo.ModelSpec(name=name, family="mobilenet", config=config,
                               data=zoo.DataConfig(**data), num_params=num_params, aliases=tuple(aliases),
                               hf_hub_id=None if url else f"timm/{name}", url=url))


# Data configs: timm's pretrained_cfg of each tag, in timm's order (the first tag is timm's default).
_register("mobilenetv2_100.ra_in1k", "v2", 3504872, aliases=["mnv2"])
_register("mobilenetv3_large_100.ra_in1k", "v3_large", 5483032, aliases=["mnv3_large"])
_register("mobilenetv3_large_100.ra4_e3600_r224_in1k", "v3_large", 5483032, crop_pct=0.95,
          mean=zoo.INCEPTION_MEAN, std=zoo.INCEPTION_STD)
_register("mobilenetv3_large_100.miil_in21k_ft_in1k", "v3_large", 5483032, interpolation="bilinear",
          mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
# torchvision's IMAGENET1K_V1 MobileNetV2 and V3-Large (published rows 29, 36): timm's architectures in
# torchvision's layout; torchvision's MobileNetV3s normalise with batch-norm epsilon 1e-3 (timm's: 1e-5).
_register("mobilenetv2_100.tv_in1k", "v2", 3504872, interpolation="bilinear",
          url="https://download.pytorch.org/models/mobilenet_v2-b0353104.pth")
_register("mobilenetv3_large_100.tv_in1k", "v3_large", 5483032, interpolation="bilinear", bn_eps=1e-3,
          url="https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth")
_register("mobilenetv3_small_100.lamb_in1k", "v3_small", 2542856)
# torchvision's IMAGENET1K_V1 MobileNetV3-Small (published row 35), in torchvision's layout.
_register("mobilenetv3_small_100.tv_in1k", "v3_small", 2542856, interpolation="bilinear", bn_eps=1e-3,
          url="https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth")
