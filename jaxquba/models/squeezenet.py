"""SqueezeNet 1.1 (Iandola et al. 2016; the 1.1 revision of the reference release) as torchvision's
``squeezenet1_1`` builds it (the only source of its ImageNet weights). Flax module names are torchvision's paths.

3x3/2 conv to 64 + ReLU, then Fire modules (1x1 ``squeeze`` conv + ReLU, feeding a 1x1 and a 3x3 ``expand`` conv,
each + ReLU, concatenated) with 3x3/2 max pools in PyTorch's ``ceil_mode`` (a last, partial window counts) after
the stem and after the second and fourth Fire. Head: 1x1 conv to the classes + ReLU, global average pool.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

# ``features`` layout: index -> (squeeze, expand) widths of a Fire; "pool" a ceil-mode max pool.
FEATURES = {2: "pool", 3: (16, 64), 4: (16, 64), 5: "pool", 6: (32, 128), 7: (32, 128), 8: "pool",
            9: (48, 192), 10: (48, 192), 11: (64, 256), 12: (64, 256)}


class Fire(nn.Module):
    squeeze: int
    expand: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.dtype
        x = nn.relu(layers.conv(self.squeeze, 1, dtype=dt, name="squeeze")(x))
        return jnp.concatenate([nn.relu(layers.conv(self.expand, 1, dtype=dt, name="expand1x1")(x)),
                                nn.relu(layers.conv(self.expand, 3, 1, 1, dtype=dt, name="expand3x3")(x))], axis=-1)


class SqueezeNet(nn.Module):
    """Normalised NHWC images -> logits."""

    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = nn.relu(layers.conv(64, 3, 2, dtype=dt, name="features.0")(images.astype(dt)))
        for index, layer in FEATURES.items():
            if layer == "pool":
                x = layers.max_pool_ceil(x, 3, 2)
            else:
                x = Fire(*layer, dtype=dt, name=f"features.{index}")(x)
        x = nn.relu(layers.conv(self.num_classes, 1, dtype=dt, name="classifier.1")(x))
        return x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)


def build(dtype=jnp.float32, **config) -> SqueezeNet:
    return SqueezeNet(dtype=dtype, **config)


register_family("squeezenet", build, converter="converters.squeezenet:convert")

# torchvision's IMAGENET1K_V1 (published row 17): resize 256, crop 224, bilinear.
zoo.register(zoo.ModelSpec(name="squeezenet1_1.tv_in1k", family="squeezenet", config=zoo.config(),
                           data=zoo.DataConfig(224, 0.875, "bilinear"), num_params=1_235_496,
                           url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"))
