"""ConViT (d'Ascoli et al. 2021) as timm's ``convit`` builds it.

A ViT (patch 16, width 48 x heads, 12 blocks, no qkv bias, LayerNorm eps 1e-6) whose first 10 blocks use *gated
positional self-attention* (GPSA): per head, the softmax of content scores ``q.k / sqrt(d)`` and the softmax of a
positional score (a Linear map of each patch pair's relative offset ``(dx, dy, dx^2 + dy^2)``) are mixed by
``sigmoid(gating_param)`` and renormalised. The class token joins only before block 11; the last two blocks are
plain multi-head attention. Final LayerNorm, head on the class token.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.vit import LN_EPS, Block

LN_EPS = 1e-6


def relative_indices(grid: int) -> np.ndarray:
    """(N, N, 3) offsets (dx, dy, dx^2 + dy^2) from query patch n to key patch m, row-major patches (timm's)."""
    pos = np.arange(grid * grid)
    dx = (pos % grid)[None, :] - (pos % grid)[:, None]
    dy = (pos // grid)[None, :] - (pos // grid)[:, None]
    return np.stack([dx, dy, dx ** 2 + dy ** 2], axis=-1).astype(np.float32)


class GPSA(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        qk = layers.dense(2 * c, self.dtype, use_bias=False, name="qk")(x).reshape(b, n, 2, self.num_heads, head_dim)
        v = layers.dense(c, self.dtype, use_bias=False, name="v")(x).reshape(b, n, self.num_heads, head_dim)
        scale = jnp.asarray(head_dim ** -0.5, qk.dtype)
        content = jnp.einsum("bqhd,bkhd->bhqk", qk[:, :, 0] * scale, qk[:, :, 1], preferred_element_type=jnp.float32)
        position = layers.dense(self.num_heads, jnp.float32, name="pos_proj")(relative_indices(int(n ** 0.5)))
        gate = jax.nn.sigmoid(self.param("gating_param", nn.initializers.ones, (self.num_heads,), jnp.float32))
        gate = gate[None, :, None, None]
        weights = ((1 - gate) * jax.nn.softmax(content, axis=-1)
                   + gate * jax.nn.softmax(position.transpose(2, 0, 1), axis=-1)[None])
        weights = (weights / weights.sum(axis=-1, keepdims=True)).astype(v.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class GPSABlock(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + GPSA(self.num_heads, self.dtype, name="attn")(layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x))
        y = layers.Mlp(4 * x.shape[-1], self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))
        return x + y


class ConVit(nn.Module):
    """Normalised NHWC images (224 x 224) -> logits."""

    num_heads: int
    depth: int = 12
    local_up_to_layer: int = 10
    img_size: int = 224
    patch_size: int = 16
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this ConViT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        dim = 48 * self.num_heads
        x = layers.conv(dim, self.patch_size, self.patch_size, padding="VALID", dtype=self.dtype,
                        name="patch_embed")(images.astype(self.dtype)).reshape(b, -1, dim)
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1, x.shape[1], dim), jnp.float32)
        x = x + pos_embed.astype(self.dtype)
        for i in range(self.depth):
            if i == self.local_up_to_layer:
                cls = self.param("cls_token", nn.initializers.zeros, (1, 1, dim), jnp.float32)
                x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, dim)).astype(self.dtype), x], axis=1)
            if i < self.local_up_to_layer:
                x = GPSABlock(self.num_heads, self.dtype, name=f"blocks_{i}")(x)
            else:
                x = Block(self.num_heads, 4.0, False, False, LN_EPS, self.dtype, name=f"blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x[:, 0])
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def build(dtype=jnp.float32, **config) -> ConVit:
    return ConVit(dtype=dtype, **config)


register_family("convit", build, converter="converters.convit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.875, "bicubic")

for _size, _num_heads, _num_params, _alias in (("tiny", 4, 5_710_512, "convit_t"), ("small", 9, 27_777_322, "convit_s"),
                                               ("base", 16, 86_540_040, "convit_b")):  # timm's parameter counts
    zoo.register(zoo.ModelSpec(name=f"convit_{_size}.fb_in1k", family="convit", config=zoo.config(num_heads=_num_heads),
                               data=_DATA, num_params=_num_params, aliases=(_alias,),
                               hf_hub_id=f"timm/convit_{_size}.fb_in1k"))
