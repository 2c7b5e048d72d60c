"""ConvNeXt v1 (Liu et al. 2022) and v2 (Woo et al. 2023) as timm's ``convnext`` builds them.

Stem: 4x4/4 conv + LayerNorm. Four stages; stages 2-4 start with LayerNorm + 2x2/2 conv. Block: 7x7 depthwise conv,
LayerNorm, Linear (4x) -> GELU -> Linear, per-channel ``gamma`` scale, residual. Head: global average pool,
LayerNorm, Linear. All LayerNorms use eps=1e-6 over channels, which in NHWC is the last axis. ``num_classes=0`` drops
the Linear (timm's ``reset_classifier(0)``): the module then returns the pooled, normalised features, as the image
trunk of OpenCLIP's ConvNeXt towers (:mod:`jaxquba.models.clip`) does. ``conv_stem`` ((width, stride) per 3x3 conv)
replaces the patchify stem by Singh et al.'s convolutional stem (:class:`~jaxquba.models.layers.ConvStem`, no final
1x1 conv; RobustBench's ``ConvBlock1`` / ``ConvBlock3``, overall stride 4 like the 4x4/4 stem it replaces).

v2 (``grn=True``, timm's ``use_grn=True, ls_init_value=None``) puts a Global Response Norm between the MLP's GELU
and its second Linear and drops the ``gamma`` scale. timm's ``conv_mlp`` (1x1 convs instead of Linears, used by
``convnextv2_nano``) is the same function; the converter reads either layout.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2's GRN on NHWC: ``x + bias + weight * x * n`` where ``n`` is each channel's L2 norm over space
    divided by its mean over channels (+ eps 1e-6). The norms are taken in float32 whatever the compute dtype (a
    sum of squares over 56x56 positions loses too many bits in bfloat16)."""

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        weight = self.param("weight", nn.initializers.zeros, (x.shape[-1],), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],), jnp.float32)
        norm = jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)), axis=(1, 2), keepdims=True))
        scale = (norm / (norm.mean(axis=-1, keepdims=True) + self.eps)).astype(x.dtype)
        return x + bias.astype(x.dtype) + weight.astype(x.dtype) * (x * scale)


class GrnMlp(nn.Module):
    """ConvNeXt-V2's feed-forward block: fc1 -> GELU -> GRN -> fc2."""

    hidden_features: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out_features = x.shape[-1]
        x = layers.gelu(layers.dense(self.hidden_features, self.dtype, name="fc1")(x))
        x = GlobalResponseNorm(name="grn")(x)
        return layers.dense(out_features, self.dtype, name="fc2")(x)


class Block(nn.Module):
    dtype: layers.Dtype
    grn: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        # Computed once: the LayerNorm's three passes would each recompute the 49-tap sum (layers.materialize).
        y = layers.materialize(layers.conv(dim, 7, 1, 3, groups=dim, dtype=self.dtype, name="conv_dw")(x))
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm")(y)
        if self.grn:
            return x + GrnMlp(4 * dim, self.dtype, name="mlp")(y)
        y = layers.Mlp(4 * dim, self.dtype, name="mlp")(y)
        return x + layers.LayerScale(name="ls")(y)


class ConvNeXt(nn.Module):
    """Normalised NHWC images -> logits (or, with ``num_classes=0``, the pooled features after the head norm)."""

    depths: tuple[int, ...]
    dims: tuple[int, ...]
    grn: bool = False  # ConvNeXt-V2
    conv_stem: tuple[tuple[int, int], ...] = ()  # Singh et al.'s stem: (width, stride) per conv
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        if self.conv_stem:
            widths, strides = zip(*self.conv_stem)
            x = layers.ConvStem(widths, strides, dtype=self.dtype, name="stem")(x)
        else:
            x = layers.conv(self.dims[0], 4, 4, dtype=self.dtype, name="stem_conv")(x)
            x = layers.layer_norm(LN_EPS, self.dtype, name="stem_norm")(x)
        for stage, (depth, dim) in enumerate(zip(self.depths, self.dims)):
            if stage > 0:
                x = layers.layer_norm(LN_EPS, self.dtype, name=f"stages_{stage}_downsample_norm")(x)
                x = layers.conv(dim, 2, 2, dtype=self.dtype, name=f"stages_{stage}_downsample_conv")(x)
            for i in range(depth):
                x = Block(self.dtype, self.grn, name=f"stages_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x.mean(axis=(1, 2)))
        if not self.num_classes:
            return x
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> ConvNeXt:
    return ConvNeXt(dtype=dtype, **config)


register_family("convnext", build, converter="converters.convnext:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_ARCHS = {  # size -> (depths, dims, timm parameter count, alias letter)
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768), 28_589_128, "t"),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768), 50_223_688, "s"),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024), 88_591_464, "b"),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536), 197_767_336, "l"),
}
_FB = zoo.DataConfig(224, 0.875, "bicubic")
_IN12K = zoo.DataConfig(224, 0.95, "bicubic")
# Per size, timm's default tag first (the arch name resolves to it): in12k_ft_in1k for tiny/small, else
# fb_in22k_ft_in1k. The short alias ``convnext_t`` names the original ImageNet-1k weights (fb_in1k).
_TAGS = {
    "tiny": (("in12k_ft_in1k", _IN12K), ("fb_in1k", _FB), ("fb_in22k_ft_in1k", _FB)),
    "small": (("in12k_ft_in1k", _IN12K), ("fb_in1k", _FB), ("fb_in22k_ft_in1k", _FB)),
    "base": (("fb_in22k_ft_in1k", _FB), ("fb_in1k", _FB)),
    "large": (("fb_in22k_ft_in1k", _FB), ("fb_in1k", _FB)),
}
_ALIAS_SUFFIX = {"fb_in1k": "", "fb_in22k_ft_in1k": "_in22k", "in12k_ft_in1k": "_in12k"}

for _size, (_depths, _dims, _num_params, _letter) in _ARCHS.items():
    for _tag, _data in _TAGS[_size]:
        zoo.register(zoo.ModelSpec(name=f"convnext_{_size}.{_tag}", family="convnext",
                                   config=zoo.config(depths=_depths, dims=_dims), data=_data, num_params=_num_params,
                                   aliases=(f"convnext_{_letter}{_ALIAS_SUFFIX[_tag]}",),
                                   hf_hub_id=f"timm/convnext_{_size}.{_tag}"))

# torchvision's IMAGENET1K_V1 ConvNeXts (published rows 148, 150, 152, 154; torchvision's own training, not FB's):
# timm's architecture in torchvision's layout, with torchvision's resize (236/230/232/232 px, bilinear).
_TORCHVISION = {"tiny": (0.949, "convnext_tiny-983f1562.pth"), "small": (0.973, "convnext_small-0c510722.pth"),
                "base": (0.965, "convnext_base-6075fbad.pth"), "large": (0.965, "convnext_large-ea097f82.pth")}
for _size, (_crop, _file) in _TORCHVISION.items():
    _depths, _dims, _num_params, _ = _ARCHS[_size]
    zoo.register(zoo.ModelSpec(name=f"convnext_{_size}.tv_in1k", family="convnext",
                               config=zoo.config(depths=_depths, dims=_dims),
                               data=zoo.DataConfig(224, _crop, "bilinear"), num_params=_num_params,
                               url="https://download.pytorch.org/models/" + _file))

# ConvNeXt-V2 (FCMAE pre-training, then supervised fine-tuning on ImageNet-1k, or on ImageNet-22k and then 1k):
# published rows 172-179. timm's pretrained_cfg of both tags is 224 px, crop 0.875, bicubic.
_V2_ARCHS = {  # size -> (depths, dims, timm parameter count)
    "nano": ((2, 2, 8, 2), (80, 160, 320, 640), 15_623_800),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768), 28_635_496),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024), 88_717_800),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536), 197_956_840),
}
for _size, (_depths, _dims, _num_params) in _V2_ARCHS.items():
    for _tag in ("fcmae_ft_in22k_in1k", "fcmae_ft_in1k"):  # timm's default tag first
        zoo.register(zoo.ModelSpec(name=f"convnextv2_{_size}.{_tag}", family="convnext",
                                   config=zoo.config(depths=_depths, dims=_dims, grn=True), data=_FB,
                                   num_params=_num_params, hf_hub_id=f"timm/convnextv2_{_size}.{_tag}"))


# RobustBench's adversarially trained ConvNeXts (ImageNet Linf), Resize 256 bicubic -> crop 224:
#  * Liu et al. 2023 (published Liu2023Comprehensive-ConvNeXt-B/L): timm's convnext_base / convnext_large behind
#    RobustBench's ImageNet normaliser (``Sequential(normalize, model)``), so the ImageNet mean/std data config; family
#    convnext_robustbench reads the model under ``model.`` and checks the normaliser (converters/robustbench.py).
#  * Singh et al. 2023 (published Singh2023Revisiting-ConvNeXt-*-ConvStem): timm's ConvNeXt with its stem replaced by
#    a convolutional one (RobustBench's ``get_convstem_models``: ``ConvBlock1(48)`` for T/S, ``ConvBlock3(64)`` for
#    B, ``ConvBlock3(96)`` for L) and no normaliser: the network takes [0, 1] images (mean 0, std 1).
# Weights: Google Drive files RobustBench downloads; --weights=PATH of RobustBench's loaded model's state_dict.
register_family("convnext_robustbench", build, converter="converters.robustbench:convert_convnext",
                normalizes_inside=True)
_ROBUSTBENCH = zoo.DataConfig(224, 0.875, "bicubic")
for _published, _size, _num_params in (("Liu2023Comprehensive-ConvNeXt-B", "base", 88_591_464),
                                       ("Liu2023Comprehensive-ConvNeXt-L", "large", 197_767_336)):
    _depths, _dims, _, _ = _ARCHS[_size]
    zoo.register(zoo.ModelSpec(name=_published, family="convnext_robustbench",
                               config=zoo.config(depths=_depths, dims=_dims), data=_ROBUSTBENCH,
                               num_params=_num_params, aliases=(_published.replace("-ConvNeXt", "_ConvNeXt"),)))

_CONV_STEMS = {"tiny": ((48, 2), (96, 2)), "small": ((48, 2), (96, 2)),  # ConvBlock1(48)
               "base": ((64, 2), (96, 2), (128, 1)), "large": ((96, 2), (144, 2), (192, 1))}  # ConvBlock3(64 / 96)
for _size, _letter, _num_params in (("tiny", "T", 28_627_432), ("small", "S", 50_261_992),
                                    ("base", "B", 88_753_416), ("large", "L", 198_134_680)):
    _depths, _dims, _, _ = _ARCHS[_size]
    _published = f"Singh2023Revisiting-ConvNeXt-{_letter}-ConvStem"
    zoo.register(zoo.ModelSpec(name=_published, family="convnext",
                               config=zoo.config(depths=_depths, dims=_dims, conv_stem=_CONV_STEMS[_size]),
                               data=dataclasses.replace(_ROBUSTBENCH, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
                               num_params=_num_params, aliases=(_published.replace("-ConvNeXt", "_ConvNeXt"),)))
