"""VGG (Simonyan & Zisserman 2015), with or without batch norm, as timm's ``vgg`` builds it.

Stages of 3x3 convolutions (bias, optional batch norm, ReLU) separated by 2x2 max pools; timm replaces torchvision's
three linear layers by a convolutional MLP on the 7x7 map (``pre_logits.fc1`` a 7x7 conv, ``fc2`` a 1x1 conv, the
same weights reshaped), then global average pooling (of the 1x1 map at 224 px) and the linear head.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5

# Widths of the convolutions, 0 for a max pool (torchvision's cfgs "A", "B", "D", "E").
LAYOUTS = {
    11: (64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0),
    13: (64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0),
    16: (64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0),
    19: (64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0),
}


def feature_indices(depth: int, batch_norm: bool) -> list[tuple[int, int]]:
    """(width, index of the conv in timm's ``features`` Sequential) per conv: conv [+ bn] + relu, pool one slot."""
    out, index = [], 0
    for width in LAYOUTS[depth]:
        if width:
            out.append((width, index))
            index += 3 if batch_norm else 2
        else:
            index += 1
    return out


class VGG(nn.Module):
    """Normalised NHWC images -> logits."""

    depth: int
    batch_norm: bool = False
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        convs = iter(feature_indices(self.depth, self.batch_norm))
        for width in LAYOUTS[self.depth]:
            if not width:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
                continue
            _, index = next(convs)
            x = layers.conv(width, 3, 1, 1, dtype=self.dtype, name=f"features_{index}")(x)
            if self.batch_norm:
                x = layers.FrozenBatchNorm(BN_EPS, self.dtype, name=f"features_{index + 1}")(x)
            x = nn.relu(x)
        if x.shape[1] < 7 or x.shape[2] < 7:
            raise ValueError("VGG's 7x7 pre-logits convolution needs inputs of at least 224 px")
        x = nn.relu(layers.conv(4096, 7, dtype=self.dtype, name="fc1")(x))
        x = nn.relu(layers.conv(4096, 1, dtype=self.dtype, name="fc2")(x))
        return layers.dense(self.num_classes, self.dtype, name="head")(x.mean(axis=(1, 2)))


def build(dtype=jnp.float32, **config) -> VGG:
    return VGG(dtype=dtype, **config)


register_family("vgg", build, converter="converters.vgg:convert")

_TORCHVISION = zoo.DataConfig(224, 0.875, "bilinear")
_PARAMS = {  # arch -> timm parameter count
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
}
for _arch, _num_params in _PARAMS.items():
    zoo.register(zoo.ModelSpec(name=f"{_arch}.tv_in1k", family="vgg",
                               config=zoo.config(depth=int(_arch[3:5]), batch_norm=_arch.endswith("_bn")),
                               data=_TORCHVISION, num_params=_num_params, hf_hub_id=f"timm/{_arch}.tv_in1k"))
