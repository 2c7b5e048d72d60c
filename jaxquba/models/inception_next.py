"""InceptionNeXt (Yu et al. 2023) as timm's ``inception_next`` (MetaNeXt) builds it.

Stem: 4x4/4 conv + BatchNorm. Four stages; stages 2-4 start with BatchNorm + 2x2/2 conv. Block (MetaNeXt): the
inception depthwise token mixer (channels split into an identity part and three groups of ``dim / 8``: 3x3, 1x11
and 11x1 depthwise convs, concatenated back in that order), BatchNorm, 1x1-conv MLP (``mlp_ratio`` x, GELU),
per-channel ``gamma`` scale, residual. Head (timm's ``MlpClassifierHead``): global average pool, Linear to 3x the
width, GELU, LayerNorm (eps 1e-6), Linear.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5
LN_EPS = 1e-6


class InceptionDWConv(nn.Module):
    """Identity / 3x3 / 1x11 / 11x1 depthwise branches on consecutive channel groups (timm's split order)."""

    branch: int  # channels per convolution branch
    band: int = 11
    square: int = 3
    dtype: layers.Dtype = jnp.float32

    def _dw(self, x: jax.Array, kernel: tuple[int, int], name: str) -> jax.Array:
        pad = tuple((k // 2, k // 2) for k in kernel)
        return layers.Conv(self.branch, kernel, padding=pad, feature_group_count=self.branch, dtype=self.dtype,
                           param_dtype=jnp.float32, name=name)(x)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        g = self.branch
        split = x.shape[-1] - 3 * g
        x_id, x_hw, x_w, x_h = (x[..., :split], x[..., split:split + g], x[..., split + g:split + 2 * g],
                                x[..., split + 2 * g:])
        return jnp.concatenate([x_id, self._dw(x_hw, (self.square, self.square), "dwconv_hw"),
                                self._dw(x_w, (1, self.band), "dwconv_w"), self._dw(x_h, (self.band, 1), "dwconv_h")],
                               axis=-1)


class Block(nn.Module):
    mlp_ratio: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        y = InceptionDWConv(int(dim * 0.125), dtype=self.dtype, name="token_mixer")(x)
        y = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="norm")(y)
        y = layers.gelu(layers.conv(int(self.mlp_ratio * dim), 1, dtype=self.dtype, name="fc1")(y))
        y = layers.conv(dim, 1, dtype=self.dtype, name="fc2")(y)
        return x + layers.LayerScale(name="ls")(y)


class InceptionNeXt(nn.Module):
    """Normalised NHWC images -> logits."""

    depths: tuple[int, ...]
    dims: tuple[int, ...]
    mlp_ratios: tuple[float, ...] = (4, 4, 4, 3)
    head_ratio: float = 3.0
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = layers.conv(self.dims[0], 4, 4, padding="VALID", dtype=self.dtype, name="stem_conv")(
            images.astype(self.dtype))
        x = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="stem_norm")(x)
        for s, (depth, dim) in enumerate(zip(self.depths, self.dims)):
            if s > 0:
                x = layers.FrozenBatchNorm(BN_EPS, self.dtype, name=f"stages_{s}_down_norm")(x)
                x = layers.conv(dim, 2, 2, padding="VALID", dtype=self.dtype, name=f"stages_{s}_down_conv")(x)
            for b in range(depth):
                x = Block(self.mlp_ratios[s], self.dtype, name=f"stages_{s}_blocks_{b}")(x)
        x = x.mean(axis=(1, 2), dtype=jnp.float32).astype(self.dtype)
        x = layers.gelu(layers.dense(int(self.head_ratio * self.dims[-1]), self.dtype, name="head_fc1")(x))
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x)
        return layers.dense(self.num_classes, self.dtype, name="head_fc2")(x)


def build(dtype=jnp.float32, **config) -> InceptionNeXt:
    return InceptionNeXt(dtype=dtype, **config)


register_family("inception_next", build, converter="converters.inception_next:convert")


# --- registry --------------------------------------------------------------------------------------------------------

for _size, _depths, _dims, _crop, _num_params in (  # timm's parameter counts
        ("tiny", (3, 3, 9, 3), (96, 192, 384, 768), 0.875, 28_055_680),
        ("small", (3, 3, 27, 3), (96, 192, 384, 768), 0.875, 49_374_016),
        ("base", (3, 3, 27, 3), (128, 256, 512, 1024), 0.95, 86_672_136)):
    zoo.register(zoo.ModelSpec(
        name=f"inception_next_{_size}.sail_in1k", family="inception_next",
        config=zoo.config(depths=_depths, dims=_dims), data=zoo.DataConfig(224, _crop, "bicubic"),
        num_params=_num_params, aliases=(f"inception_next_{_size[0]}",),
        hf_hub_id=f"timm/inception_next_{_size}.sail_in1k"))
