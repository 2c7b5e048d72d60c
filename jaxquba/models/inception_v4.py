"""Inception-v4 (Szegedy et al. 2017) as timm's ``inception_v4`` builds it (Cadene's port of the TF-slim weights).
Flax module names are timm's module paths (``features.N``; convs are ``BasicConv2d``: conv, BN eps 1e-3, ReLU).

Stem: three 3x3 convs (the first strided), then Mixed3a (3x3/2 max pool | 3x3/2 conv), Mixed4a (1x1 -> 3x3 |
1x1 -> 1x7 -> 7x1 -> 3x3), Mixed5a (3x3/2 conv | 3x3/2 max pool). Four InceptionA, ReductionA, seven InceptionB,
ReductionB, three InceptionC (split 1x3 / 3x1 outputs); global average pool, Linear ``last_linear``. The average
pools of the Inception blocks (3x3, stride 1, padding 1) exclude the padding from the count.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.inception_v3 import basic_conv

ROW, COL = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding) of a 1x7 and a 7x1 conv


def avg_pool(x: jax.Array) -> jax.Array:
    """``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)``."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def max_pool(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


def chain(x: jax.Array, prefix: str, convs, dtype) -> jax.Array:
    """A Sequential of BasicConv2d ``{prefix}.{i}``: ``convs`` are (features, kernel, stride, padding)."""
    for i, (features, kernel, stride, padding) in enumerate(convs):
        x = basic_conv(x, f"{prefix}.{i}", features, kernel, stride, padding, dtype=dtype)
    return x


class Block(nn.Module):
    """One of timm's ``features`` entries after the stem convs, by ``kind``."""

    kind: str
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt, k = self.dtype, self.kind

        def conv(y, name, features, kernel, stride=1, padding=0):
            return basic_conv(y, name, features, kernel, stride, padding, dtype=dt)

        if k == "mixed3a":
            return jnp.concatenate([max_pool(x), conv(x, "conv", 96, 3, 2)], axis=-1)
        if k == "mixed4a":
            return jnp.concatenate([chain(x, "branch0", ((64, 1, 1, 0), (96, 3, 1, 0)), dt),
                                    chain(x, "branch1", ((64, 1, 1, 0), (64, ROW[0], 1, ROW[1]),
                                                         (64, COL[0], 1, COL[1]), (96, 3, 1, 0)), dt)], axis=-1)
        if k == "mixed5a":
            return jnp.concatenate([conv(x, "conv", 192, 3, 2), max_pool(x)], axis=-1)
        if k == "a":
            return jnp.concatenate([
                conv(x, "branch0", 96, 1),
                chain(x, "branch1", ((64, 1, 1, 0), (96, 3, 1, 1)), dt),
                chain(x, "branch2", ((64, 1, 1, 0), (96, 3, 1, 1), (96, 3, 1, 1)), dt),
                conv(avg_pool(x), "branch3.1", 96, 1)], axis=-1)
        if k == "reduction_a":
            return jnp.concatenate([conv(x, "branch0", 384, 3, 2),
                                    chain(x, "branch1", ((192, 1, 1, 0), (224, 3, 1, 1), (256, 3, 2, 0)), dt),
                                    max_pool(x)], axis=-1)
        if k == "b":
            return jnp.concatenate([
                conv(x, "branch0", 384, 1),
                chain(x, "branch1", ((192, 1, 1, 0), (224, ROW[0], 1, ROW[1]), (256, COL[0], 1, COL[1])), dt),
                chain(x, "branch2", ((192, 1, 1, 0), (192, COL[0], 1, COL[1]), (224, ROW[0], 1, ROW[1]),
                                     (224, COL[0], 1, COL[1]), (256, ROW[0], 1, ROW[1])), dt),
                conv(avg_pool(x), "branch3.1", 128, 1)], axis=-1)
        if k == "reduction_b":
            return jnp.concatenate([
                chain(x, "branch0", ((192, 1, 1, 0), (192, 3, 2, 0)), dt),
                chain(x, "branch1", ((256, 1, 1, 0), (256, ROW[0], 1, ROW[1]), (320, COL[0], 1, COL[1]),
                                     (320, 3, 2, 0)), dt),
                max_pool(x)], axis=-1)
        if k == "c":
            def split(y, name):  # a 1x3 and a 3x1 conv on the same input, concatenated
                return jnp.concatenate([conv(y, f"{name}a", 256, (1, 3), padding=(0, 1)),
                                        conv(y, f"{name}b", 256, (3, 1), padding=(1, 0))], axis=-1)

            x2 = conv(conv(x, "branch2_0", 384, 1), "branch2_1", 448, (3, 1), padding=(1, 0))
            x2 = conv(x2, "branch2_2", 512, (1, 3), padding=(0, 1))
            return jnp.concatenate([conv(x, "branch0", 256, 1), split(conv(x, "branch1_0", 384, 1), "branch1_1"),
                                    split(x2, "branch2_3"), conv(avg_pool(x), "branch3.1", 256, 1)], axis=-1)
        raise ValueError(f"unknown Inception-v4 block {k!r}")




def blocks(counts: tuple[int, int, int]) -> tuple[str, ...]:
    """timm's ``features`` after the three stem convs (indices 3...), with ``counts`` InceptionA/B/C blocks."""
    a, b, c = counts
    return ("mixed3a", "mixed4a", "mixed5a", *("a",) * a, "reduction_a", *("b",) * b, "reduction_b", *("c",) * c)


class InceptionV4(nn.Module):
    """Normalised NHWC images (inception normalisation) -> logits."""

    counts: tuple[int, int, int] = (4, 7, 3)  # InceptionA, B and C blocks
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = basic_conv(images.astype(dt), "features.0", 32, 3, 2, dtype=dt)
        x = basic_conv(x, "features.1", 32, 3, dtype=dt)
        x = basic_conv(x, "features.2", 64, 3, padding=1, dtype=dt)
        for i, kind in enumerate(blocks(self.counts)):
            x = Block(kind, dtype=dt, name=f"features.{i + 3}")(x)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="last_linear")(x)


def build(dtype=jnp.float32, **config) -> InceptionV4:
    return InceptionV4(dtype=dtype, **config)


register_family("inception_v4", build, converter="converters.inception_v4:convert")

# The TF-slim weights as timm ships them (published row 19).
zoo.register(zoo.ModelSpec(name="inception_v4.tf_in1k", family="inception_v4", config=zoo.config(),
                           data=zoo.DataConfig(299, 0.875, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=42_679_816, hf_hub_id="timm/inception_v4.tf_in1k"))
