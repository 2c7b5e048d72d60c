"""ResNet-V2 with BiT's choices (Kolesnikov et al. 2020) as timm's ``resnetv2_*_bit`` builds it.

Pre-activation bottlenecks (He et al. 2016): each block normalises its input once (GroupNorm of 32 groups + ReLU)
and feeds that to both its 1x1 / 3x3 (stride here) / 1x1 convs (GroupNorm + ReLU before the second and third) and,
in the first block of a stage, to the 1x1 projection of the shortcut; otherwise the shortcut is the raw input.
Every conv is weight-standardised (timm ``StdConv2d``, eps 1e-8): the converter stores the standardised kernels, so
the module applies plain convolutions. Stem: 7x7/2 conv, zero padding of 1, 3x3/2 max pool (timm's 'fixed' stem).
Head: GroupNorm + ReLU, global average pool, 1x1 conv with bias. Widths are (64, 256, 512, 1024, 2048) x
``width_factor``, bottlenecks a quarter of the stage width.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

GN_GROUPS = 32
GN_EPS = 1e-5
STD_CONV_EPS = 1e-8  # the converter's weight standardisation (timm's BiT StdConv2d)


def group_norm_relu(x: jax.Array, name: str, dtype: layers.Dtype) -> jax.Array:
    norm = nn.GroupNorm(num_groups=GN_GROUPS, epsilon=GN_EPS, use_fast_variance=False, dtype=dtype,
                        param_dtype=jnp.float32, name=name)
    return nn.relu(norm(x))


class PreActBottleneck(nn.Module):
    width: int
    stride: int
    project: bool
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt, mid = self.dtype, self.width // 4
        preact = group_norm_relu(x, "norm1", dt)
        shortcut = x
        if self.project:
            shortcut = layers.conv(self.width, 1, self.stride, use_bias=False, dtype=dt, name="downsample.conv")(
                preact)
        y = layers.conv(mid, 1, use_bias=False, dtype=dt, name="conv1")(preact)
        y = layers.conv(mid, 3, self.stride, 1, use_bias=False, dtype=dt, name="conv2")(group_norm_relu(y, "norm2", dt))
        y = layers.conv(self.width, 1, use_bias=False, dtype=dt, name="conv3")(group_norm_relu(y, "norm3", dt))
        return y + shortcut


class ResNetV2(nn.Module):
    """Normalised NHWC images -> logits."""

    depths: tuple[int, ...]
    width_factor: int = 1
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt, wf = self.dtype, self.width_factor
        x = layers.conv(64 * wf, 7, 2, 3, use_bias=False, dtype=dt, name="stem.conv")(images.astype(dt))
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # zeros, as nn.ConstantPad2d(1, 0.)
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
        for s, (depth, width) in enumerate(zip(self.depths, (256, 512, 1024, 2048))):
            for i in range(depth):
                x = PreActBottleneck(width * wf, 2 if s > 0 and i == 0 else 1, i == 0, dtype=dt,
                                     name=f"stages.{s}.blocks.{i}")(x)
        x = group_norm_relu(x, "norm", dt)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="head.fc")(x)


def build(dtype=jnp.float32, **config) -> ResNetV2:
    return ResNetV2(dtype=dtype, **config)


register_family("resnetv2", build, converter="converters.resnetv2:convert")

# BiT-M (ImageNet-21k, fine-tuned on ImageNet-1k at 448 px): published rows 63-66.
_BIT = {"50x1": ((3, 4, 6, 3), 1, 25_549_352), "50x3": ((3, 4, 6, 3), 3, 217_319_080),
        "101x1": ((3, 4, 23, 3), 1, 44_541_480), "152x2": ((3, 8, 36, 3), 2, 236_335_208)}
for _size, (_depths, _wf, _num_params) in _BIT.items():
    _name = f"resnetv2_{_size}_bit.goog_in21k_ft_in1k"
    zoo.register(zoo.ModelSpec(name=_name, family="resnetv2", config=zoo.config(depths=_depths, width_factor=_wf),
                               data=zoo.DataConfig(448, 1.0, "bilinear", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                               num_params=_num_params, hf_hub_id=f"timm/{_name}"))
