"""AlexNet (Krizhevsky et al. 2012; the one-GPU variant of Krizhevsky 2014) as torchvision's ``alexnet`` builds it
(the only source of its ImageNet weights). Flax module names are torchvision's module paths.

Five convolutions with ReLU (11x11/4 pad 2 to 64, 5x5 pad 2 to 192, then 3x3 pad 1 to 384, 256, 256), 3x3/2 max
pools after the first, second and fifth; at 224 px that leaves a 6x6x256 map, which torchvision's adaptive pool
keeps as is and flattens (C, H, W) into ``classifier.1``, a Linear that here is the same weights as a 6x6 conv.
Then ReLU, Linear 4096 -> 4096, ReLU, Linear to the classes (dropouts are identities at inference).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

CONVS = ((0, 64, 11, 4, 2), (3, 192, 5, 1, 2), (6, 384, 3, 1, 1), (8, 256, 3, 1, 1), (10, 256, 3, 1, 1))
POOL_AFTER = (0, 3, 10)  # ``features`` indices of the convs followed by a 3x3/2 max pool


class AlexNet(nn.Module):
    """Normalised NHWC images -> logits."""

    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = images.astype(dt)
        for index, width, kernel, stride, pad in CONVS:
            x = nn.relu(layers.conv(width, kernel, stride, pad, dtype=dt, name=f"features.{index}")(x))
            if index in POOL_AFTER:
                x = nn.max_pool(x, (3, 3), strides=(2, 2))
        if x.shape[1:3] != (6, 6):
            raise ValueError(f"AlexNet's classifier reads a 6x6 map (224 px inputs), got {x.shape[1:3]}")
        x = nn.relu(layers.conv(4096, 6, dtype=dt, name="classifier.1")(x))[:, 0, 0, :]
        x = nn.relu(layers.dense(4096, dt, name="classifier.4")(x))
        return layers.dense(self.num_classes, dt, name="classifier.6")(x)


def build(dtype=jnp.float32, **config) -> AlexNet:
    return AlexNet(dtype=dtype, **config)


register_family("alexnet", build, converter="converters.alexnet:convert")

# torchvision's IMAGENET1K_V1 (published row 0): resize 256, crop 224, bilinear.
zoo.register(zoo.ModelSpec(name="alexnet.tv_in1k", family="alexnet", config=zoo.config(),
                           data=zoo.DataConfig(224, 0.875, "bilinear"), num_params=61_100_840,
                           url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"))
