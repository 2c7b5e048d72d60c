"""LeViT (Graham et al. 2021) as timm's ``levit`` (linear, distilled) builds it.

A 16x-downsampling stem of four 3x3 stride-2 conv + batch norm layers (Hardswish between), then three stages on the
flattened 14x14, 7x7 and 4x4 token grids. Every linear map is followed by a batch norm (``LinearNorm``). A block is
``x + attn(x)``, ``x + mlp(x)`` with no LayerNorm: attention whose fused qkv is laid out per head as [q, k, v], values
``attn_ratio`` times as wide as keys, a learnt bias per head for each absolute offset (|dy|, |dx|), Hardswish before
the output projection; the MLP is LinearNorm -> Hardswish -> LinearNorm. Stages 2-3 open with a shrinking attention
(queries from every second row and column, keys and values from all tokens; no residual) and a residual MLP. Head:
mean of the tokens, then batch norm + Linear, averaged with the distillation head.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family


def attention_bias_index(resolution: int, stride: int = 1) -> np.ndarray:
    """(Nq, Nk) index |dy| * resolution + |dx| between query points (every ``stride``-th row/column) and all keys."""
    keys = np.stack(np.meshgrid(np.arange(resolution), np.arange(resolution), indexing="ij")).reshape(2, -1)
    q_axis = np.arange(0, resolution, stride)
    queries = np.stack(np.meshgrid(q_axis, q_axis, indexing="ij")).reshape(2, -1)
    rel = np.abs(queries[:, :, None] - keys[:, None, :])
    return rel[0] * resolution + rel[1]


class LinearNorm(nn.Module):
    """Linear without bias + frozen batch norm over the features."""

    features: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.dense(self.features, self.dtype, use_bias=False, name="linear")(x)
        return layers.FrozenBatchNorm(dtype=self.dtype, name="bn")(x)


class Attention(nn.Module):
    """LeViT attention; ``stride`` 2 is the shrinking variant (separate kv and subsampled q)."""

    out_dim: int
    key_dim: int
    num_heads: int
    attn_ratio: float
    resolution: int
    stride: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        kd, vd, heads = self.key_dim, int(self.attn_ratio * self.key_dim), self.num_heads
        if self.stride == 1:
            qkv = LinearNorm(heads * (2 * kd + vd), self.dtype, name="qkv")(x).reshape(b, n, heads, -1)
            q, k, v = qkv[..., :kd], qkv[..., kd:2 * kd], qkv[..., 2 * kd:]
        else:
            kv = LinearNorm(heads * (kd + vd), self.dtype, name="kv")(x).reshape(b, n, heads, -1)
            k, v = kv[..., :kd], kv[..., kd:]
            grid = x.reshape(b, self.resolution, self.resolution, c)[:, ::self.stride, ::self.stride]
            q = LinearNorm(heads * kd, self.dtype, name="q_ln")(grid.reshape(b, -1, c)).reshape(b, -1, heads, kd)
        biases = self.param("attention_biases", nn.initializers.zeros, (heads, self.resolution ** 2), jnp.float32)
        out = layers.dot_product_attention(q, k, v, biases[:, attention_bias_index(self.resolution, self.stride)])
        out = jax.nn.hard_swish(out.reshape(b, -1, heads * vd))
        return LinearNorm(self.out_dim, self.dtype, name="proj_ln")(out)


class Mlp(nn.Module):
    """LinearNorm -> Hardswish -> LinearNorm back to the input width."""

    hidden: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = x.shape[-1]
        x = jax.nn.hard_swish(LinearNorm(self.hidden, self.dtype, name="ln1")(x))
        return LinearNorm(width, self.dtype, name="ln2")(x)


class NormLinear(nn.Module):
    """Frozen batch norm + Linear (the classifier heads)."""

    features: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return layers.dense(self.features, self.dtype, name="linear")(layers.FrozenBatchNorm(dtype=self.dtype,
                                                                                              name="bn")(x))


class Levit(nn.Module):
    """Normalised NHWC images (224 x 224) -> logits."""

    embed_dims: tuple[int, ...]
    key_dim: int
    num_heads: tuple[int, ...]
    depths: tuple[int, ...]
    img_size: int = 224
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this LeViT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        x = images.astype(self.dtype)
        dim = self.embed_dims[0]
        for i, width in enumerate((dim // 8, dim // 4, dim // 2, dim), start=1):
            x = layers.conv(width, 3, 2, 1, use_bias=False, dtype=self.dtype, name=f"stem_conv{i}_linear")(x)
            x = layers.FrozenBatchNorm(dtype=self.dtype, name=f"stem_conv{i}_bn")(x)
            if i < 4:
                x = jax.nn.hard_swish(x)
        b, resolution = x.shape[0], x.shape[1]
        x = x.reshape(b, -1, dim)
        for stage, (width, heads, depth) in enumerate(zip(self.embed_dims, self.num_heads, self.depths)):
            if stage > 0:
                p = f"stages_{stage}_downsample"
                x = Attention(width, self.key_dim, x.shape[-1] // self.key_dim, 4.0, resolution, 2, self.dtype,
                              name=f"{p}_attn_downsample")(x)
                resolution = (resolution - 1) // 2 + 1
                x = x + Mlp(2 * width, self.dtype, name=f"{p}_mlp")(x)
            for i in range(depth):
                p = f"stages_{stage}_blocks_{i}"
                x = x + Attention(width, self.key_dim, heads, 2.0, resolution, 1, self.dtype, name=f"{p}_attn")(x)
                x = x + Mlp(2 * width, self.dtype, name=f"{p}_mlp")(x)
        x = x.mean(axis=1)
        head = NormLinear(self.num_classes, self.dtype, name="head")(x)
        return (head + NormLinear(self.num_classes, self.dtype, name="head_dist")(x)) / 2


def build(dtype=jnp.float32, **config) -> Levit:
    return Levit(dtype=dtype, **config)


register_family("levit", build, converter="converters.levit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.9, "bicubic")

for _arch, _dims, _key_dim, _stage_heads, _depths, _num_params in (  # timm's parameter counts (both heads)
        ("levit_128s", (128, 256, 384), 16, (4, 6, 8), (2, 3, 4), 7_777_058),
        ("levit_128", (128, 256, 384), 16, (4, 8, 12), (4, 4, 4), 9_213_936),
        ("levit_256", (256, 384, 512), 32, (4, 6, 8), (4, 4, 4), 18_893_876),
        ("levit_384", (384, 512, 768), 32, (6, 9, 12), (4, 4, 4), 39_128_836)):
    _name = f"{_arch}.fb_dist_in1k"
    zoo.register(zoo.ModelSpec(
        name=_name, family="levit",
        config=zoo.config(embed_dims=_dims, key_dim=_key_dim, num_heads=_stage_heads, depths=_depths), data=_DATA,
        num_params=_num_params, aliases=(_arch.replace("levit_", "levit"),), hf_hub_id=f"timm/{_name}"))
