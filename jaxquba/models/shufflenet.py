"""ShuffleNet V2 (Ma et al. 2018) as torchvision's ``shufflenet_v2_x*`` builds it (the only source of its ImageNet
weights). Flax module names are torchvision's module paths, so the converter maps them one to one.

Stem: 3x3/2 conv + BN + ReLU, 3x3/2 max pool. Three stages of (4, 8, 4) units. A unit of stride 2 runs two branches
on its whole input: ``branch1`` (3x3/2 depthwise conv + BN, 1x1 conv + BN + ReLU) and ``branch2`` (1x1 conv + BN +
ReLU, 3x3 depthwise conv + BN, 1x1 conv + BN + ReLU); a unit of stride 1 passes the first half of its channels
through and runs ``branch2`` on the second. Either way the two halves are concatenated and shuffled (channel
``2i`` from the first half, ``2i+1`` from the second). Head: 1x1 conv + BN + ReLU, global average pool, Linear.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5
STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: jax.Array) -> jax.Array:
    """torchvision's ``channel_shuffle(x, 2)`` on NHWC: interleaves the two channel halves."""
    b, h, w, c = x.shape
    return x.reshape(b, h, w, 2, c // 2).swapaxes(3, 4).reshape(b, h, w, c)


def conv_bn(x: jax.Array, prefix: str, index: int, features: int, kernel: int, stride: int = 1,
            depthwise: bool = False, relu: bool = True, dtype: layers.Dtype = jnp.float32) -> jax.Array:
    """Conv (no bias) ``{prefix}.{index}`` + batch norm ``{prefix}.{index + 1}`` [+ ReLU], inside a compact module."""
    x = layers.conv(features, kernel, stride, kernel // 2, groups=x.shape[-1] if depthwise else 1, use_bias=False,
                    dtype=dtype, name=f"{prefix}.{index}")(x)
    x = layers.FrozenBatchNorm(BN_EPS, dtype, name=f"{prefix}.{index + 1}")(x)
    return nn.relu(x) if relu else x


class ShuffleNetV2(nn.Module):
    """Normalised NHWC images -> logits. ``widths``: torchvision's ``stages_out_channels`` (stem, three stages,
    head)."""

    widths: tuple[int, ...]
    stage_repeats: tuple[int, ...] = STAGE_REPEATS
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = conv_bn(images.astype(dt), "conv1", 0, self.widths[0], 3, 2, dtype=dt)
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for s, (repeats, width) in enumerate(zip(self.stage_repeats, self.widths[1:4])):
            half = width // 2
            for i in range(repeats):
                p = f"stage{s + 2}.{i}"
                stride = 2 if i == 0 else 1
                if stride == 2:
                    left = conv_bn(x, f"{p}.branch1", 0, x.shape[-1], 3, 2, depthwise=True, relu=False, dtype=dt)
                    left = conv_bn(left, f"{p}.branch1", 2, half, 1, dtype=dt)
                    right = x
                else:
                    left, right = x[..., :half], x[..., half:]
                right = conv_bn(right, f"{p}.branch2", 0, half, 1, dtype=dt)
                right = conv_bn(right, f"{p}.branch2", 3, half, 3, stride, depthwise=True, relu=False, dtype=dt)
                right = conv_bn(right, f"{p}.branch2", 5, half, 1, dtype=dt)
                x = channel_shuffle(jnp.concatenate([left, right], axis=-1))
        x = conv_bn(x, "conv5", 0, self.widths[4], 1, dtype=dt)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="fc")(x)


def build(dtype=jnp.float32, **config) -> ShuffleNetV2:
    return ShuffleNetV2(dtype=dtype, **config)


register_family("shufflenet", build, converter="converters.shufflenet:convert")

# torchvision's IMAGENET1K_V1 weights (published rows 30-33): width -> (widths, file, parameter count, crop_pct:
# torchvision resizes to 256 for x0.5/x1.0 and to 232 for the 2022 retrained x1.5/x2.0).
_WEIGHTS = {
    "x0_5": ((24, 48, 96, 192, 1024), "shufflenetv2_x0.5-f707e7126e.pth", 1_366_792, 0.875),
    "x1_0": ((24, 116, 232, 464, 1024), "shufflenetv2_x1-5666bf0f80.pth", 2_278_604, 0.875),
    "x1_5": ((24, 176, 352, 704, 1024), "shufflenetv2_x1_5-3c479a10.pth", 3_503_624, 0.965),
    "x2_0": ((24, 244, 488, 976, 2048), "shufflenetv2_x2_0-8be3c8ee.pth", 7_393_996, 0.965),
}
for _width, (_widths, _file, _num_params, _crop) in _WEIGHTS.items():
    zoo.register(zoo.ModelSpec(name=f"shufflenet_v2_{_width}.tv_in1k", family="shufflenet",
                               config=zoo.config(widths=_widths), data=zoo.DataConfig(224, _crop, "bilinear"),
                               num_params=_num_params, url="https://download.pytorch.org/models/" + _file))
