"""MnasNet-B1 as torchvision's ``mnasnet0_5`` / ``0_75`` / ``1_0`` / ``1_3`` builds it, on the EfficientNet block
machinery (the same network as timm's ``mnasnet_*``; only torchvision ships ImageNet weights for its widths).

Stem: 3x3/2 conv + BN + ReLU. A depthwise-separable block (3x3 depthwise, BN, ReLU, 1x1 conv, BN; no skip), six
stacks of ReLU inverted residuals without squeeze-excite (kernel, stride, expansion, repeats: 3/2/3/3, 5/2/3/3,
5/2/6/3, 3/1/6/2, 5/2/6/4, 3/1/6/1; a residual where shape allows), 1x1 conv to 1280 + BN + ReLU, global average
pool, Linear. Every width is torchvision's depth ``alpha`` x (32, 16, 24, 40, 80, 96, 192, 320) rounded to a
multiple of 8 (version 2 of torchvision's model: the stem scales with ``alpha`` too); expansions are exact
products (no rounding); batch norms use eps 1e-5.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import register_family
from jaxquba.models.efficientnet import BlockDef, MobileNetStyleNet, make_divisible

BASE_DEPTHS = (32, 16, 24, 40, 80, 96, 192, 320)
STACKS = ((3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1))  # k, s, expansion, n


def depths(alpha: float) -> tuple[int, ...]:
    """torchvision's ``_get_depths``: each base width x alpha, to a multiple of 8, rounding up past 90 %."""
    return tuple(make_divisible(d * alpha) for d in BASE_DEPTHS)


def stages(alpha: float) -> tuple[tuple[BlockDef, ...], ...]:
    d = depths(alpha)
    blocks = [(BlockDef("ds", 3, 1, d[0], d[0], d[1], 0, "relu"),)]
    in_chs = d[1]
    for (kernel, stride, expansion, repeats), out_chs in zip(STACKS, d[2:]):
        stack = []
        for i in range(repeats):
            stack.append(BlockDef("ir", kernel, stride if i == 0 else 1, in_chs, in_chs * expansion, out_chs, 0,
                                  "relu"))
            in_chs = out_chs
        blocks.append(tuple(stack))
    return tuple(blocks)


def build(alpha: float, num_classes: int = 1000, dtype=jnp.float32) -> MobileNetStyleNet:
    return MobileNetStyleNet(stages=stages(alpha), stem_chs=depths(alpha)[0], head_chs=1280, act="relu",
                             num_classes=num_classes, dtype=dtype)


register_family("mnasnet", build, converter="converters.mnasnet:convert")

# torchvision's IMAGENET1K_V1 weights (published rows 41-44): alpha -> (file, torchvision's parameter count,
# resize crop_pct: 224/256 for 0.5 and 1.0, 224/232 for the 2022 retrained 0.75 and 1.3).
_WEIGHTS = {
    0.5: ("mnasnet0_5", "mnasnet0.5_top1_67.823-3ffadce67e.pth", 2_218_512, 0.875),
    0.75: ("mnasnet0_75", "mnasnet0_75-7090bc5f.pth", 3_170_208, 0.965),
    1.0: ("mnasnet1_0", "mnasnet1.0_top1_73.512-f206786ef8.pth", 4_383_312, 0.875),
    1.3: ("mnasnet1_3", "mnasnet1_3-a4c69d6f.pth", 6_282_256, 0.965),
}
for _alpha, (_arch, _file, _num_params, _crop) in _WEIGHTS.items():
    zoo.register(zoo.ModelSpec(name=f"{_arch}.tv_in1k", family="mnasnet", config=zoo.config(alpha=_alpha),
                               data=zoo.DataConfig(224, _crop, "bilinear"), num_params=_num_params,
                               url="https://download.pytorch.org/models/" + _file))
