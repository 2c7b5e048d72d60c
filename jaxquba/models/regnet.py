"""RegNetY (Radosavovic et al. 2020) as timm's ``regnet`` and torchvision's ``regnet_y_*`` build it.

Stem 3x3/2 conv (32) + batch norm + ReLU; four stages of bottleneck blocks with bottleneck ratio 1: 1x1 conv,
grouped 3x3 conv (stride 2 in a stage's first block), squeeze-and-excitation on a quarter of the block's *input*
width, 1x1 conv, then ReLU of the sum with the shortcut (a strided 1x1 conv + batch norm where the shape changes);
global average pool and the linear head. Each arch's per-stage (depth, width, group width) is written out here, as
timm derives it from (w0, wa, wm, depth) and the checked parameter counts confirm.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5
STEM_WIDTH = 32


def conv_bn(x: jax.Array, features: int, kernel: int, stride: int, groups: int, dtype, name: str,
            act: bool = True) -> jax.Array:
    """timm's ``ConvNormAct`` (``{name}.conv``, ``{name}.bn``): conv without bias, batch norm, optional ReLU."""
    x = layers.conv(features, kernel, stride, kernel // 2, groups=groups, use_bias=False, dtype=dtype,
                    name=f"{name}_conv")(x)
    x = layers.FrozenBatchNorm(BN_EPS, dtype, name=f"{name}_bn")(x)
    return nn.relu(x) if act else x


class Block(nn.Module):
    width: int
    group_width: int
    stride: int
    se_ratio: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        in_width = x.shape[-1]
        y = conv_bn(x, self.width, 1, 1, 1, self.dtype, "conv1")
        y = conv_bn(y, self.width, 3, self.stride, self.width // self.group_width, self.dtype, "conv2")
        if self.se_ratio:
            s = y.mean(axis=(1, 2), keepdims=True)
            s = nn.relu(layers.conv(int(round(in_width * self.se_ratio)), 1, dtype=self.dtype, name="se_fc1")(s))
            y = y * jax.nn.sigmoid(layers.conv(self.width, 1, dtype=self.dtype, name="se_fc2")(s))
        y = conv_bn(y, self.width, 1, 1, 1, self.dtype, "conv3", act=False)
        if self.stride != 1 or in_width != self.width:
            x = conv_bn(x, self.width, 1, self.stride, 1, self.dtype, "downsample", act=False)
        return nn.relu(x + y)


class RegNet(nn.Module):
    """Normalised NHWC images -> logits."""

    stages: tuple[tuple[int, int, int], ...]  # (depth, width, group width) per stage
    se_ratio: float = 0.25
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = conv_bn(images.astype(self.dtype), STEM_WIDTH, 3, 2, 1, self.dtype, "stem")
        for s, (depth, width, group_width) in enumerate(self.stages):
            for i in range(depth):
                x = Block(width, group_width, 2 if i == 0 else 1, self.se_ratio, self.dtype,
                          name=f"s{s + 1}_b{i + 1}")(x)
        return layers.dense(self.num_classes, self.dtype, name="fc")(x.mean(axis=(1, 2)))


def build(dtype=jnp.float32, **config) -> RegNet:
    return RegNet(dtype=dtype, **config)


register_family("regnet", build, converter="converters.regnet:convert")

# --- registry --------------------------------------------------------------------------------------------------------

_ARCHS = {  # arch -> (per-stage (depth, width, group width), timm parameter count)
    "regnety_004": (((1, 48, 8), (3, 104, 8), (6, 208, 8), (6, 440, 8)), 4_344_144),
    "regnety_008_tv": (((1, 64, 16), (3, 144, 16), (8, 320, 16), (2, 784, 16)), 6_432_512),
    "regnety_016": (((2, 48, 24), (6, 120, 24), (17, 336, 24), (2, 888, 24)), 11_202_430),
    "regnety_032": (((2, 72, 24), (5, 216, 24), (13, 576, 24), (1, 1512, 24)), 19_436_338),
    "regnety_040": (((2, 128, 64), (6, 192, 64), (12, 512, 64), (2, 1088, 64)), 20_646_656),
    "regnety_080": (((2, 168, 56), (4, 448, 56), (10, 896, 56), (1, 2016, 56)), 39_180_068),
    "regnety_080_tv": (((2, 224, 56), (4, 448, 56), (10, 896, 56), (1, 2016, 56)), 39_381_472),
    "regnety_160": (((2, 224, 112), (4, 448, 112), (11, 1232, 112), (1, 3024, 112)), 83_590_140),
    "regnety_320": (((2, 232, 232), (5, 696, 232), (12, 1392, 232), (1, 3712, 232)), 145_046_770),
}
_PYCLS = zoo.DataConfig(224, 0.875, "bicubic")  # timm's pycls_in1k config; the peer evaluated the RSB weights with it
_TORCHVISION = zoo.DataConfig(224, 0.875, "bilinear")  # torchvision IMAGENET1K_V1: resize 256, crop 224, bilinear
_TV = "https://download.pytorch.org/models/"
_RSB = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"

# arch -> ((tag, data config, hub id or None, download address or None), ...); the first tag is the arch's default.
# torchvision's IMAGENET1K_V1 weights (tv_in1k, torchvision's layout) and the RSB A1-A3 checkpoints (timm's layout)
# have no timm tag: they come from their download addresses.
_TAGS = {
    "regnety_004": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_400mf-c65dace8.pth"),),
    "regnety_008_tv": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_800mf-1b27b58c.pth"),),
    "regnety_016": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_1_6gf-b11a554e.pth"),),
    "regnety_032": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_3_2gf-b5a9779c.pth"),),
    "regnety_040": (("pycls_in1k", _PYCLS, "timm/regnety_040.pycls_in1k", None),
                    ("a1_in1k", _PYCLS, None, _RSB + "regnety_040_a1_0-453380cb.pth"),
                    ("a2_in1k", _PYCLS, None, _RSB + "regnety_040_a2_0-acda0189.pth"),
                    ("a3_in1k", _PYCLS, None, _RSB + "regnety_040_a3_0-9705a0d6.pth")),
    "regnety_080": (("a1_in1k", _PYCLS, None, _RSB + "regnety_080_a1_0-7d647454.pth"),
                    ("a2_in1k", _PYCLS, None, _RSB + "regnety_080_a2_0-2298ae4e.pth"),
                    ("a3_in1k", _PYCLS, None, _RSB + "regnety_080_a3_0-2fb073a0.pth")),
    "regnety_080_tv": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_8gf-d0d0e4a8.pth"),),
    "regnety_160": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_16gf-9e6ed7dd.pth"),
                    ("a1_in1k", _PYCLS, None, _RSB + "regnety_160_a1_0-ed74711e.pth"),
                    ("a2_in1k", _PYCLS, None, _RSB + "regnety_160_a2_0-6631355e.pth"),
                    ("a3_in1k", _PYCLS, None, _RSB + "regnety_160_a3_0-9ee45d21.pth")),
    "regnety_320": (("tv_in1k", _TORCHVISION, None, _TV + "regnet_y_32gf-4dee3f7a.pth"),
                    ("a1_in1k", _PYCLS, None, _RSB + "regnety_320_a1_0-6c920aed.pth"),
                    ("a2_in1k", _PYCLS, None, _RSB + "regnety_320_a2_0-a9fedcbf.pth"),
                    ("a3_in1k", _PYCLS, None, _RSB + "regnety_320_a3_0-242d2987.pth")),
}

for _arch, (_stages, _num_params) in _ARCHS.items():
    for _tag, _data, _hub, _url in _TAGS[_arch]:
        zoo.register(zoo.ModelSpec(name=f"{_arch}.{_tag}", family="regnet", config=zoo.config(stages=_stages),
                                   data=_data, num_params=_num_params, hf_hub_id=_hub, url=_url))
