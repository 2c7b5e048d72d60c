"""ConvNeXt v1 (Liu et al. 2022) as timm's ``convnext`` builds it (``conv_mlp=False``: the MLP runs channels-last).

Stem: 4x4/4 conv + LayerNorm. Four stages; stages 2-4 start with LayerNorm + 2x2/2 conv. Block: 7x7 depthwise conv,
LayerNorm, Linear (4x) -> GELU -> Linear, per-channel ``gamma`` scale, residual. Head: global average pool,
LayerNorm, Linear. All LayerNorms use eps=1e-6 over channels, which in NHWC is the last axis.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6


class Block(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        y = layers.conv(dim, 7, 1, 3, groups=dim, dtype=self.dtype, name="conv_dw")(x)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm")(y)
        y = layers.Mlp(4 * dim, self.dtype, name="mlp")(y)
        return x + layers.LayerScale(name="ls")(y)


class ConvNeXt(nn.Module):
    """Normalised NHWC images -> logits."""

    depths: tuple[int, ...]
    dims: tuple[int, ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = layers.conv(self.dims[0], 4, 4, dtype=self.dtype, name="stem_conv")(images.astype(self.dtype))
        x = layers.layer_norm(LN_EPS, self.dtype, name="stem_norm")(x)
        for stage, (depth, dim) in enumerate(zip(self.depths, self.dims)):
            if stage > 0:
                x = layers.layer_norm(LN_EPS, self.dtype, name=f"stages_{stage}_downsample_norm")(x)
                x = layers.conv(dim, 2, 2, dtype=self.dtype, name=f"stages_{stage}_downsample_conv")(x)
            for i in range(depth):
                x = Block(self.dtype, name=f"stages_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x.mean(axis=(1, 2)))
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
