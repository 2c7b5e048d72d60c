"""ResNet family (He et al. 2016) as timm's ``resnet`` builds it: the torchvision layout, v1.5 (stride in the 3x3).

Basic blocks (ResNet-18/34) and bottleneck blocks (ResNet-50/101/152); stem 7x7/2 conv + 3x3/2 max pool; a 1x1
strided conv + batch norm projects the shortcut where the shape changes. The same layout serves timm's own recipes
(``a1_in1k`` ...), the torchvision weights (``tv_in1k``, ``tv2_in1k``) and the Facebook semi-/weakly-supervised ones.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5  # PyTorch BatchNorm2d default


class BasicBlock(nn.Module):
    width: int
    stride: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = layers.conv(self.width, 3, self.stride, 1, use_bias=False, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(y))
        y = layers.conv(self.width, 3, 1, 1, use_bias=False, dtype=self.dtype, name="conv2")(y)
        y = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn2")(y)
        return nn.relu(y + _shortcut(x, self.width, self.stride, self.dtype))


class Bottleneck(nn.Module):
    width: int
    stride: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = layers.conv(self.width, 1, use_bias=False, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(y))
        y = layers.conv(self.width, 3, self.stride, 1, use_bias=False, dtype=self.dtype, name="conv2")(y)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn2")(y))
        y = layers.conv(self.width * 4, 1, use_bias=False, dtype=self.dtype, name="conv3")(y)
        y = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn3")(y)
        return nn.relu(y + _shortcut(x, self.width * 4, self.stride, self.dtype))


def _shortcut(x: jax.Array, features: int, stride: int, dtype: layers.Dtype) -> jax.Array:
    """Identity, or a strided 1x1 conv + batch norm (``downsample``) when the block changes shape.

    Called inside a block's compact ``__call__``, so its submodules are named within that block.
    """
    if stride == 1 and x.shape[-1] == features:
        return x
    x = layers.conv(features, 1, stride, use_bias=False, dtype=dtype, name="downsample_conv")(x)
    return layers.FrozenBatchNorm(BN_EPS, dtype, name="downsample_bn")(x)


class ResNet(nn.Module):
    """Normalised NHWC images -> logits."""

    block: str  # 'basic' | 'bottleneck'
    depths: tuple[int, ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        block_cls = BasicBlock if self.block == "basic" else Bottleneck
        x = layers.conv(64, 7, 2, 3, use_bias=False, dtype=self.dtype, name="conv1")(images.astype(self.dtype))
        x = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for stage, depth in enumerate(self.depths):
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                x = block_cls(64 * 2 ** stage, stride, self.dtype, name=f"layer{stage + 1}_{i}")(x)
        x = x.mean(axis=(1, 2))
        return layers.dense(self.num_classes, self.dtype, name="fc")(x)


def build(dtype=jnp.float32, **config) -> ResNet:
    return ResNet(dtype=dtype, **config)


register_family("resnet", build, converter="converters.resnet:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_ARCHS = {  # arch -> (block, depths, timm parameter count)
    "resnet18": ("basic", (2, 2, 2, 2), 11_689_512),
    "resnet34": ("basic", (3, 4, 6, 3), 21_797_672),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 25_557_032),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 44_549_160),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 60_192_808),
}
# timm's ResNet strikes back recipes (Wightman et al. 2021): A1/A2 at 224, A3 at 160, all crop 0.95.
_RSB_224 = zoo.DataConfig(224, 0.95, "bicubic")
_RSB_160 = zoo.DataConfig(160, 0.95, "bicubic")
_TORCHVISION = zoo.DataConfig(224, 0.875, "bilinear")  # also the FB SSL / SWSL weights
_TORCHVISION2 = zoo.DataConfig(176, 0.875, "bilinear")  # torchvision's "new recipe" (IMAGENET1K_V2) eval cfg in timm
_GLUON = zoo.DataConfig(224, 0.875, "bicubic")

_TAGS = {  # arch -> ((tag, data config, aliases), ...); the first tag is timm's default for the arch
    "resnet18": (("a1_in1k", _RSB_224, ("rn18",)), ("tv_in1k", _TORCHVISION, ("rn18_tv",)),
                 ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ()), ("fb_ssl_yfcc100m_ft_in1k", _TORCHVISION, ())),
    "resnet34": (("a1_in1k", _RSB_224, ("rn34",)), ("tv_in1k", _TORCHVISION, ("rn34_tv",))),
    "resnet50": (("a1_in1k", _RSB_224, ("rn50",)), ("a2_in1k", _RSB_224, ("rn50_a2",)),
                 ("a3_in1k", _RSB_160, ("rn50_a3",)), ("tv_in1k", _TORCHVISION, ("rn50_tv",)),
                 ("tv2_in1k", _TORCHVISION2, ("rn50_tv2",)), ("gluon_in1k", _GLUON, ()),
                 ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ("rn50_swsl",)),
                 ("fb_ssl_yfcc100m_ft_in1k", _TORCHVISION, ("rn50_ssl",))),
    "resnet101": (("a1h_in1k", _RSB_224, ("rn101",)), ("tv_in1k", _TORCHVISION, ("rn101_tv",)),
                  ("tv2_in1k", _TORCHVISION2, ())),
    "resnet152": (("a1h_in1k", _RSB_224, ("rn152",)), ("tv_in1k", _TORCHVISION, ("rn152_tv",)),
                  ("tv2_in1k", _TORCHVISION2, ())),
}

for _arch, (_block, _depths, _num_params) in _ARCHS.items():
    for _tag, _data, _aliases in _TAGS[_arch]:
        zoo.register(zoo.ModelSpec(name=f"{_arch}.{_tag}", family="resnet",
                                   config=zoo.config(block=_block, depths=_depths), data=_data,
                                   num_params=_num_params, aliases=_aliases, hf_hub_id=f"timm/{_arch}.{_tag}"))
