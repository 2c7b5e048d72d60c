"""Inception-ResNet-v2 (Szegedy et al. 2017) as timm's ``inception_resnet_v2`` builds it (Cadene's port of the
TF-slim weights). Flax module names are timm's module paths; convs are ``BasicConv2d`` (conv, BN eps 1e-3, ReLU),
except the residual blocks' last 1x1 ``conv2d`` (with bias, no norm).

Stem as Inception-v3's up to 192 channels, Mixed_5b (to 320), ten Block35 (residual scale 0.17), Mixed_6a, twenty
Block17 (0.10), Mixed_7a, nine Block8 (0.20), a last Block8 (scale 1, no ReLU), 1x1 conv to 1536; global average
pool, Linear ``classif``. A residual block is ReLU(x + scale * conv2d(concat(branches))). Mixed_5b's average pool
(3x3, stride 1, padding 1) excludes the padding from the count.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.inception_v3 import basic_conv
from jaxquba.models.inception_v4 import avg_pool, chain, max_pool


class Mixed(nn.Module):
    """Mixed_5b, Mixed_6a or Mixed_7a (by ``kind``)."""

    kind: str
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.dtype
        if self.kind == "5b":
            return jnp.concatenate([
                basic_conv(x, "branch0", 96, 1, dtype=dt),
                chain(x, "branch1", ((48, 1, 1, 0), (64, 5, 1, 2)), dt),
                chain(x, "branch2", ((64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 1, 1)), dt),
                basic_conv(avg_pool(x), "branch3.1", 64, 1, dtype=dt)], axis=-1)
        if self.kind == "6a":
            return jnp.concatenate([basic_conv(x, "branch0", 384, 3, 2, dtype=dt),
                                    chain(x, "branch1", ((256, 1, 1, 0), (256, 3, 1, 1), (384, 3, 2, 0)), dt),
                                    max_pool(x)], axis=-1)
        if self.kind == "7a":
            return jnp.concatenate([chain(x, "branch0", ((256, 1, 1, 0), (384, 3, 2, 0)), dt),
                                    chain(x, "branch1", ((256, 1, 1, 0), (288, 3, 2, 0)), dt),
                                    chain(x, "branch2", ((256, 1, 1, 0), (288, 3, 1, 1), (320, 3, 2, 0)), dt),
                                    max_pool(x)], axis=-1)
        raise ValueError(f"unknown mixed block {self.kind!r}")


# kind -> the branches, each a chain of (features, kernel, stride, padding) BasicConv2d.
RESIDUAL_BRANCHES = {
    "35": (((32, 1, 1, 0),), ((32, 1, 1, 0), (32, 3, 1, 1)), ((32, 1, 1, 0), (48, 3, 1, 1), (64, 3, 1, 1))),
    "17": (((192, 1, 1, 0),), ((128, 1, 1, 0), (160, (1, 7), 1, (0, 3)), (192, (7, 1), 1, (3, 0)))),
    "8": (((192, 1, 1, 0),), ((192, 1, 1, 0), (224, (1, 3), 1, (0, 1)), (256, (3, 1), 1, (1, 0)))),
}


class ResidualBlock(nn.Module):
    """Block35, Block17 or Block8: act(x + scale * conv2d(concat(branches)))."""

    kind: str
    scale: float
    relu: bool = True
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.dtype
        branches = []
        for b, convs in enumerate(RESIDUAL_BRANCHES[self.kind]):
            if len(convs) == 1:  # a single BasicConv2d, not a Sequential
                branches.append(basic_conv(x, f"branch{b}", *convs[0][:2], dtype=dt))
            else:
                branches.append(chain(x, f"branch{b}", convs, dt))
        out = layers.conv(x.shape[-1], 1, dtype=dt, name="conv2d")(jnp.concatenate(branches, axis=-1))
        out = out * self.scale + x
        return nn.relu(out) if self.relu else out


class InceptionResnetV2(nn.Module):
    """Normalised NHWC images (inception normalisation) -> logits."""

    repeats: tuple[int, int, int] = (10, 20, 9)  # Block35s, Block17s, Block8s before the last Block8
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        n35, n17, n8 = self.repeats
        x = basic_conv(images.astype(dt), "conv2d_1a", 32, 3, 2, dtype=dt)
        x = basic_conv(x, "conv2d_2a", 32, 3, dtype=dt)
        x = max_pool(basic_conv(x, "conv2d_2b", 64, 3, padding=1, dtype=dt))
        x = basic_conv(x, "conv2d_3b", 80, 1, dtype=dt)
        x = max_pool(basic_conv(x, "conv2d_4a", 192, 3, dtype=dt))
        x = Mixed("5b", dtype=dt, name="mixed_5b")(x)
        for i in range(n35):
            x = ResidualBlock("35", 0.17, dtype=dt, name=f"repeat.{i}")(x)
        x = Mixed("6a", dtype=dt, name="mixed_6a")(x)
        for i in range(n17):
            x = ResidualBlock("17", 0.10, dtype=dt, name=f"repeat_1.{i}")(x)
        x = Mixed("7a", dtype=dt, name="mixed_7a")(x)
        for i in range(n8):
            x = ResidualBlock("8", 0.20, dtype=dt, name=f"repeat_2.{i}")(x)
        x = ResidualBlock("8", 1.0, relu=False, dtype=dt, name="block8")(x)
        x = basic_conv(x, "conv2d_7b", 1536, 1, dtype=dt)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="classif")(x)


def build(dtype=jnp.float32, **config) -> InceptionResnetV2:
    return InceptionResnetV2(dtype=dtype, **config)


register_family("inception_resnet_v2", build, converter="converters.inception_resnet_v2:convert")

# The TF-slim weights as timm ships them (published row 20).
zoo.register(zoo.ModelSpec(name="inception_resnet_v2.tf_in1k", family="inception_resnet_v2", config=zoo.config(),
                           data=zoo.DataConfig(299, 0.8975, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=55_843_464, hf_hub_id="timm/inception_resnet_v2.tf_in1k"))
