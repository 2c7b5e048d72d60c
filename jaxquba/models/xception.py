"""Xception (Chollet 2017) as timm's ``legacy_xception`` builds it (the Keras/TF port of Cadene's
pretrainedmodels). Flax module names are timm's module paths.

Stem: 3x3/2 conv (no padding) + BN + ReLU, 3x3 conv (no padding) + BN + ReLU. Twelve blocks, each a ``rep``
Sequential of [ReLU,] separable conv (3x3 depthwise + 1x1 pointwise, no biases), BN, repeated, then a 3x3 max pool
(padding 1) where the block strides; the shortcut is a 1x1 strided conv + BN where the shape changes, else the
block's input. Block 1 starts without ReLU; block 12 widens on its last separable conv. Exit: separable conv to
1536 + BN + ReLU, separable conv to 2048 + BN + ReLU, global average pool, Linear. Batch norms use eps 1e-5.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5

# (in, out, separable convs, stride, start with ReLU, grow first) of block1..block12.
BLOCKS = ((64, 128, 2, 2, False, True), (128, 256, 2, 2, True, True), (256, 728, 2, 2, True, True),
          *((728, 728, 3, 1, True, True),) * 8, (728, 1024, 2, 2, True, False))


def separable(x: jax.Array, name: str, features: int, dtype: layers.Dtype) -> jax.Array:
    """timm's ``SeparableConv2d`` ``name``: 3x3 depthwise ``conv1`` (padding 1), 1x1 ``pointwise``."""
    x = layers.conv(x.shape[-1], 3, 1, 1, groups=x.shape[-1], use_bias=False, dtype=dtype, name=f"{name}.conv1")(x)
    return layers.conv(features, 1, use_bias=False, dtype=dtype, name=f"{name}.pointwise")(x)


class Block(nn.Module):
    out_chs: int
    reps: int
    stride: int
    start_with_relu: bool
    grow_first: bool
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, inp: jax.Array) -> jax.Array:
        dt, in_chs = self.dtype, inp.shape[-1]
        x, index = inp, 0 if self.start_with_relu else -1  # the Sequential slot of the first ReLU (dropped: -1)
        for i in range(self.reps):
            if self.grow_first:
                width = self.out_chs
            else:
                width = in_chs if i < self.reps - 1 else self.out_chs
            if index >= 0 or i > 0:
                x = nn.relu(x)
            x = separable(x, f"rep.{index + 1}", width, dt)
            x = layers.FrozenBatchNorm(BN_EPS, dt, name=f"rep.{index + 2}")(x)
            index += 3
        if self.stride != 1:
            x = nn.max_pool(x, (3, 3), strides=(self.stride, self.stride), padding=((1, 1), (1, 1)))
        if self.out_chs != in_chs or self.stride != 1:
            skip = layers.conv(self.out_chs, 1, self.stride, use_bias=False, dtype=dt, name="skip")(inp)
            inp = layers.FrozenBatchNorm(BN_EPS, dt, name="skipbn")(skip)
        return x + inp


class Xception(nn.Module):
    """Normalised NHWC images -> logits."""

    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype

        def bn_relu(y, name):
            return nn.relu(layers.FrozenBatchNorm(BN_EPS, dt, name=name)(y))

        x = bn_relu(layers.conv(32, 3, 2, use_bias=False, dtype=dt, name="conv1")(images.astype(dt)), "bn1")
        x = bn_relu(layers.conv(64, 3, use_bias=False, dtype=dt, name="conv2")(x), "bn2")
        for i, (_, out_chs, reps, stride, start_with_relu, grow_first) in enumerate(BLOCKS):
            x = Block(out_chs, reps, stride, start_with_relu, grow_first, dtype=dt, name=f"block{i + 1}")(x)
        x = bn_relu(separable(x, "conv3", 1536, dt), "bn3")
        x = bn_relu(separable(x, "conv4", 2048, dt), "bn4")
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="fc")(x)


def build(dtype=jnp.float32, **config) -> Xception:
    return Xception(dtype=dtype, **config)


register_family("xception", build, converter="converters.xception:convert")

# The TF-trained Keras weights as timm ships them, from timm's GitHub release (published row 28).
zoo.register(zoo.ModelSpec(name="legacy_xception.tf_in1k", family="xception", config=zoo.config(),
                           data=zoo.DataConfig(299, 0.8975, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=22_855_952,
                           url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/"
                               "xception-43020ad28.pth"))
