"""GoogLeNet (Inception v1, Szegedy et al. 2015) as torchvision's ``googlenet`` builds it (the only source of its
ImageNet weights). Flax module names are torchvision's module paths.

Every conv is torchvision's ``BasicConv2d``: conv without bias, batch norm (eps 1e-3), ReLU. Stem: 7x7/2 conv to 64,
3x3/2 max pool, 1x1 conv to 64, 3x3 conv to 192, 3x3/2 max pool (PyTorch's ``ceil_mode`` pools throughout). Nine
Inception modules (3a, 3b, pool, 4a-4e, 2x2/2 pool, 5a, 5b), each concatenating a 1x1 conv; 1x1 -> 3x3; 1x1 -> 3x3
(torchvision's "5x5" branch is a 3x3, as in its weights); and a 3x3/1 max pool -> 1x1. Global average pool, Linear.

torchvision's weights expect ``transform_input``: the ImageNet-normalised input re-normalised to (x - 0.5) / 0.5.
That composition is the inception normalisation itself, so the spec normalises with mean = std = 0.5 and the
network starts at ``conv1``. The auxiliary classifiers are training-only and not part of the module.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-3

# name -> (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection) widths; None: a max pool (kernel).
STAGES = (("inception3a", (64, 96, 128, 16, 32, 32)), ("inception3b", (128, 128, 192, 32, 96, 64)),
          ("maxpool3", 3), ("inception4a", (192, 96, 208, 16, 48, 64)), ("inception4b", (160, 112, 224, 24, 64, 64)),
          ("inception4c", (128, 128, 256, 24, 64, 64)), ("inception4d", (112, 144, 288, 32, 64, 64)),
          ("inception4e", (256, 160, 320, 32, 128, 128)), ("maxpool4", 2),
          ("inception5a", (256, 160, 320, 32, 128, 128)), ("inception5b", (384, 192, 384, 48, 128, 128)))


def basic_conv(x: jax.Array, name: str, features: int, kernel: int, stride: int = 1, padding: int = 0,
               dtype: layers.Dtype = jnp.float32) -> jax.Array:
    """torchvision's ``BasicConv2d`` ``name``: ``{name}.conv`` (no bias), ``{name}.bn`` (eps 1e-3), ReLU."""
    x = layers.conv(features, kernel, stride, padding, use_bias=False, dtype=dtype, name=f"{name}.conv")(x)
    return nn.relu(layers.FrozenBatchNorm(BN_EPS, dtype, name=f"{name}.bn")(x))


class Inception(nn.Module):
    widths: tuple[int, ...]
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c1, r3, c3, r5, c5, pool = self.widths
        dt = self.dtype
        b1 = basic_conv(x, "branch1", c1, 1, dtype=dt)
        b2 = basic_conv(basic_conv(x, "branch2.0", r3, 1, dtype=dt), "branch2.1", c3, 3, padding=1, dtype=dt)
        b3 = basic_conv(basic_conv(x, "branch3.0", r5, 1, dtype=dt), "branch3.1", c5, 3, padding=1, dtype=dt)
        b4 = basic_conv(layers.max_pool_ceil(x, 3, 1, 1), "branch4.1", pool, 1, dtype=dt)
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class GoogLeNet(nn.Module):
    """Normalised NHWC images (inception normalisation) -> logits."""

    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = basic_conv(images.astype(dt), "conv1", 64, 7, 2, 3, dtype=dt)
        x = layers.max_pool_ceil(x, 3, 2)
        x = basic_conv(x, "conv2", 64, 1, dtype=dt)
        x = basic_conv(x, "conv3", 192, 3, padding=1, dtype=dt)
        x = layers.max_pool_ceil(x, 3, 2)
        for name, stage in STAGES:
            if isinstance(stage, int):
                x = layers.max_pool_ceil(x, stage, 2)
            else:
                x = Inception(stage, dtype=dt, name=name)(x)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="fc")(x)


def build(dtype=jnp.float32, **config) -> GoogLeNet:
    return GoogLeNet(dtype=dtype, **config)


register_family("googlenet", build, converter="converters.googlenet:convert")

# torchvision's IMAGENET1K_V1 (published row 1): resize 256, crop 224, bilinear; inception normalisation (above).
zoo.register(zoo.ModelSpec(name="googlenet.tv_in1k", family="googlenet", config=zoo.config(),
                           data=zoo.DataConfig(224, 0.875, "bilinear", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=6_624_904,
                           url="https://download.pytorch.org/models/googlenet-1378be20.pth"))
