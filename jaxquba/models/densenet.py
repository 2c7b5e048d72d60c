"""DenseNet (Huang et al. 2017) as timm's ``densenet`` (torchvision's layout and weights) builds it.

Stem 7x7/2 conv + batch norm + ReLU + 3x3/2 max pool; dense blocks whose layers each add ``growth`` channels
(batch norm, ReLU, 1x1 conv to ``4 * growth``, batch norm, ReLU, 3x3 conv to ``growth``, concatenated to the input);
between blocks a transition halves the channels (batch norm, ReLU, 1x1 conv) and the resolution (2x2 average pool);
a final batch norm + ReLU, global average pool and the linear classifier.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5
BN_SIZE = 4


class DenseNet(nn.Module):
    """Normalised NHWC images -> logits."""

    growth: int
    blocks: tuple[int, ...]
    stem_width: int = 64
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype

        def bn_relu(x, name):
            return nn.relu(layers.FrozenBatchNorm(BN_EPS, dt, name=name)(x))

        x = layers.conv(self.stem_width, 7, 2, 3, use_bias=False, dtype=dt, name="conv0")(images.astype(dt))
        x = bn_relu(x, "norm0")
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for b, depth in enumerate(self.blocks):
            for i in range(depth):
                p = f"denseblock{b + 1}_denselayer{i + 1}"
                y = layers.conv(BN_SIZE * self.growth, 1, use_bias=False, dtype=dt, name=f"{p}_conv1")(
                    bn_relu(x, f"{p}_norm1"))
                y = layers.conv(self.growth, 3, 1, 1, use_bias=False, dtype=dt, name=f"{p}_conv2")(
                    bn_relu(y, f"{p}_norm2"))
                x = jnp.concatenate([x, y], axis=-1)
            if b < len(self.blocks) - 1:
                p = f"transition{b + 1}"
                x = layers.conv(x.shape[-1] // 2, 1, use_bias=False, dtype=dt, name=f"{p}_conv")(
                    bn_relu(x, f"{p}_norm"))
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = bn_relu(x, "norm5").mean(axis=(1, 2))
        return layers.dense(self.num_classes, dt, name="classifier")(x)


def build(dtype=jnp.float32, **config) -> DenseNet:
    return DenseNet(dtype=dtype, **config)


register_family("densenet", build, converter="converters.densenet:convert")

_ARCHS = {  # arch -> (growth, blocks, stem width, timm parameter count)
    "densenet121": (32, (6, 12, 24, 16), 64, 7_978_856),
    "densenet161": (48, (6, 12, 36, 24), 96, 28_681_000),
    "densenet169": (32, (6, 12, 32, 32), 64, 14_149_480),
    "densenet201": (32, (6, 12, 48, 32), 64, 20_013_928),
}
_TV = zoo.DataConfig(224, 0.875, "bicubic")  # timm's tv_in1k config (torchvision itself resizes bilinearly)
for _arch, (_growth, _blocks, _stem, _num_params) in _ARCHS.items():
    zoo.register(zoo.ModelSpec(name=f"{_arch}.tv_in1k", family="densenet",
                               config=zoo.config(growth=_growth, blocks=_blocks, stem_width=_stem), data=_TV,
                               num_params=_num_params, hf_hub_id=f"timm/{_arch}.tv_in1k"))
