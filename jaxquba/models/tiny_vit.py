"""TinyViT (Wu et al. 2022) as timm's ``tiny_vit`` builds it.

A convolutional stem (two 3x3 stride-2 conv + batch norm, GELU between) and a first stage of MBConv blocks, then
three stages of window-attention blocks, each stage opened by a convolutional patch merging (1x1 -> depthwise 3x3
stride 2 -> 1x1, conv + batch norm, GELU between). A block is ``x + attn(x)`` in non-overlapping windows (no shift),
a depthwise 3x3 conv + batch norm (``local_conv``), then ``x + mlp(x)`` with the LayerNorms inside the attention and
the MLP (eps 1e-5). The attention is LeViT's: one fused qkv whose output is laid out per head as [q, k, v], and a
learnt bias per head for each absolute offset ``(|dy|, |dx|)`` inside the window. Head: average pool, LayerNorm over
channels, Linear.
"""

from __future__ import annotations

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.swin import window_partition, window_reverse

LN_EPS = 1e-5


def attention_bias_index(window: int) -> np.ndarray:
    """(window^2, window^2) index of each token pair's |offset| in the bias table, in first-seen order (timm's)."""
    points = list(itertools.product(range(window), range(window)))
    offsets: dict[tuple[int, int], int] = {}
    index = [offsets.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(offsets)) for p in points for q in points]
    return np.asarray(index, np.int64).reshape(len(points), len(points))


class ConvNorm(nn.Module):
    """Conv without bias + frozen batch norm (timm ``ConvNorm``)."""

    features: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.conv(self.features, self.kernel, self.stride, self.kernel // 2, self.groups, use_bias=False,
                        dtype=self.dtype, name="conv")(x)
        return layers.FrozenBatchNorm(dtype=self.dtype, name="bn")(x)


class MBConv(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        y = layers.gelu(ConvNorm(4 * c, dtype=self.dtype, name="conv1")(x))
        y = layers.gelu(ConvNorm(4 * c, 3, groups=4 * c, dtype=self.dtype, name="conv2")(y))
        y = ConvNorm(c, dtype=self.dtype, name="conv3")(y)
        return layers.gelu(x + y)


class PatchMerging(nn.Module):
    out_dim: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.gelu(ConvNorm(self.out_dim, dtype=self.dtype, name="conv1")(x))
        x = layers.gelu(ConvNorm(self.out_dim, 3, 2, groups=self.out_dim, dtype=self.dtype, name="conv2")(x))
        return ConvNorm(self.out_dim, dtype=self.dtype, name="conv3")(x)


class Attention(nn.Module):
    num_heads: int
    window: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        biases = self.param("attention_biases", nn.initializers.zeros, (self.num_heads, n), jnp.float32)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x)
        qkv = layers.dense(3 * c, self.dtype, name="qkv")(x).reshape(b, n, self.num_heads, 3 * head_dim)
        q, k, v = jnp.split(qkv, 3, axis=-1)  # per head [q, k, v]: the value width equals the key width here
        out = layers.dot_product_attention(q, k, v, biases[:, attention_bias_index(self.window)])
        return layers.dense(c, self.dtype, name="proj")(out.reshape(b, n, c))


class Block(nn.Module):
    num_heads: int
    window: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        if h % self.window or w % self.window:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the window {self.window}")
        y = Attention(self.num_heads, self.window, self.dtype, name="attn")(window_partition(x, self.window))
        x = x + window_reverse(y, self.window, h, w)
        x = ConvNorm(c, 3, groups=c, dtype=self.dtype, name="local_conv")(x)
        y = layers.layer_norm(LN_EPS, self.dtype, name="mlp_norm")(x)
        return x + layers.Mlp(4 * c, self.dtype, name="mlp")(y)


class TinyVit(nn.Module):
    """Normalised NHWC images -> logits."""

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dim = self.embed_dims[0]
        x = layers.gelu(ConvNorm(dim // 2, 3, 2, dtype=self.dtype, name="patch_embed_conv1")(images.astype(self.dtype)))
        x = ConvNorm(dim, 3, 2, dtype=self.dtype, name="patch_embed_conv2")(x)
        for i in range(self.depths[0]):
            x = MBConv(self.dtype, name=f"stages_0_blocks_{i}")(x)
        for stage in range(1, len(self.depths)):
            x = PatchMerging(self.embed_dims[stage], self.dtype, name=f"stages_{stage}_downsample")(x)
            for i in range(self.depths[stage]):
                x = Block(self.num_heads[stage], self.window_sizes[stage], self.dtype,
                          name=f"stages_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x.mean(axis=(1, 2)))
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> TinyVit:
    return TinyVit(dtype=dtype, **config)


register_family("tiny_vit", build, converter="converters.tiny_vit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.95, "bicubic")

for _size, _dims, _stage_heads, _num_params in (  # timm's parameter counts with a 1000-class head
        ("5m", (64, 128, 160, 320), (2, 4, 5, 10), 5_392_764),
        ("11m", (64, 128, 256, 448), (2, 4, 8, 14), 10_996_972),
        ("21m", (96, 192, 384, 576), (3, 6, 12, 18), 21_198_568)):
    for _tag, _suffix in (("in1k", ""), ("dist_in22k_ft_in1k", "_in22k")):  # timm's default tag is 22k-class
        _name = f"tiny_vit_{_size}_224.{_tag}"
        zoo.register(zoo.ModelSpec(
            name=_name, family="tiny_vit",
            config=zoo.config(embed_dims=_dims, depths=(2, 2, 6, 2), num_heads=_stage_heads), data=_DATA,
            num_params=_num_params, aliases=(f"tiny_vit_{_size}{_suffix}",), hf_hub_id=f"timm/{_name}"))
