"""XCiT, Cross-Covariance Image Transformers (El-Nouby et al. 2021), as timm's ``xcit`` builds them.

A convolutional patch embedding (four 3x3 stride-2 conv + batch norm, GELU between) plus a fixed Fourier position
encoding (sin/cos of the normalised row and column, 1x1-conv projected), then blocks of three layer-scaled pre-norm
branches (LayerNorm eps 1e-6): cross-covariance attention (XCA: per head, queries and keys L2-normalised along the
*tokens*, a softmax over channels of ``q k^T * temperature`` mixes the value channels), local patch interaction (LPI:
depthwise 3x3 conv, GELU, batch norm, depthwise 3x3 conv on the token grid) and the MLP. Two CaiT-style
class-attention blocks follow, in timm's exact form: the normed patch tokens are added back to themselves, and
the patch tokens are doubled by the MLP residual (``tokens_norm``: all tokens normed before the MLP, else only the
class token). Final LayerNorm, head on the class token.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.cait import ClassAttention

LN_EPS = 1e-6
FOURIER_DIM, TEMPERATURE, FOURIER_EPS = 32, 10000.0, 1e-6


def fourier_features(h: int, w: int) -> np.ndarray:
    """(h, w, 2 * FOURIER_DIM) [row features, column features], each sin/cos interleaved (timm's layout)."""
    y = np.arange(1, h + 1, dtype=np.float32)[:, None].repeat(w, 1)
    x = np.arange(1, w + 1, dtype=np.float32)[None, :].repeat(h, 0)
    y = y / (y[-1:, :] + FOURIER_EPS) * (2 * math.pi)
    x = x / (x[:, -1:] + FOURIER_EPS) * (2 * math.pi)
    dim_t = TEMPERATURE ** (2 * (np.arange(FOURIER_DIM) // 2) / FOURIER_DIM).astype(np.float32)

    def encode(pos):
        pos = pos[..., None] / dim_t
        return np.stack([np.sin(pos[..., 0::2]), np.cos(pos[..., 1::2])], axis=-1).reshape(h, w, FOURIER_DIM)

    return np.concatenate([encode(y), encode(x)], axis=-1).astype(np.float32)


class XCA(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        qkv = layers.dense(3 * c, self.dtype, name="qkv")(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = (qkv[:, :, i].astype(jnp.float32) for i in range(3))

        def unit(t):  # F.normalize over the tokens
            return t / jnp.maximum(jnp.linalg.norm(t, axis=1, keepdims=True), 1e-12)

        temperature = self.param("temperature", nn.initializers.ones, (self.num_heads, 1, 1), jnp.float32)
        logits = jnp.einsum("bnhi,bnhj->bhij", unit(q), unit(k)) * temperature
        weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
        out = jnp.einsum("bhij,bnhj->bnhi", weights, v.astype(self.dtype)).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class XCABlock(nn.Module):
    num_heads: int
    grid: tuple[int, int]
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape

        def gamma(name):
            return self.param(name, nn.initializers.ones, (c,), jnp.float32).astype(self.dtype)

        x = x + gamma("gamma1") * XCA(self.num_heads, self.dtype, name="attn")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x))
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm3")(x).reshape(b, *self.grid, c)
        y = layers.gelu(layers.conv(c, 3, 1, 1, groups=c, dtype=self.dtype, name="local_mp_conv1")(y))
        y = layers.FrozenBatchNorm(dtype=self.dtype, name="local_mp_bn")(y)
        y = layers.conv(c, 3, 1, 1, groups=c, dtype=self.dtype, name="local_mp_conv2")(y)
        x = x + gamma("gamma3") * y.reshape(b, n, c)
        return x + gamma("gamma2") * layers.Mlp(4 * c, self.dtype, name="mlp")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))


class ClassAttentionBlock(nn.Module):
    num_heads: int
    tokens_norm: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]

        def gamma(name):
            return self.param(name, nn.initializers.ones, (c,), jnp.float32).astype(self.dtype)

        x_norm = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        cls = ClassAttention(self.num_heads, self.dtype, name="attn")(x_norm)
        x = x + gamma("gamma1") * jnp.concatenate([cls, x_norm[:, 1:]], axis=1)
        norm2 = layers.layer_norm(LN_EPS, self.dtype, name="norm2")
        x = norm2(x) if self.tokens_norm else jnp.concatenate([norm2(x[:, :1]), x[:, 1:]], axis=1)
        cls = gamma("gamma2") * layers.Mlp(4 * c, self.dtype, name="mlp")(x[:, :1])
        return x + jnp.concatenate([cls, x[:, 1:]], axis=1)


class Xcit(nn.Module):
    """Normalised NHWC images -> logits."""

    embed_dim: int
    depth: int
    num_heads: int
    tokens_norm: bool
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dim = self.embed_dim
        x = images.astype(self.dtype)
        for i, width in enumerate((dim // 8, dim // 4, dim // 2, dim)):
            if i:
                x = layers.gelu(x)
            x = layers.conv(width, 3, 2, 1, use_bias=False, dtype=self.dtype, name=f"patch_embed_proj_{2 * i}_0")(x)
            x = layers.FrozenBatchNorm(dtype=self.dtype, name=f"patch_embed_proj_{2 * i}_1")(x)
        b, h, w, _ = x.shape
        pos = layers.conv(dim, 1, dtype=self.dtype, name="pos_embed_token_projection")(
            jnp.asarray(fourier_features(h, w), self.dtype)[None])
        x = (x + pos).reshape(b, h * w, dim)
        for i in range(self.depth):
            x = XCABlock(self.num_heads, (h, w), self.dtype, name=f"blocks_{i}")(x)
        cls = self.param("cls_token", nn.initializers.zeros, (1, 1, dim), jnp.float32)
        x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, dim)).astype(self.dtype), x], axis=1)
        for i in range(2):
            x = ClassAttentionBlock(self.num_heads, self.tokens_norm, self.dtype, name=f"cls_attn_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x[:, 0])
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def build(dtype=jnp.float32, **config) -> Xcit:
    return Xcit(dtype=dtype, **config)


register_family("xcit", build, converter="converters.xcit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 1.0, "bicubic")

for _size, _dim, _depth, _num_heads, _tokens_norm, _num_params in (  # timm's parameter counts
        ("nano_12", 128, 12, 4, False, 3_053_224),
        ("small_24", 384, 24, 8, True, 47_671_384),
        ("medium_24", 512, 24, 8, True, 84_395_752),
        ("large_24", 768, 24, 16, True, 189_096_136)):
    _name = f"xcit_{_size}_p16_224.fb_in1k"
    zoo.register(zoo.ModelSpec(
        name=_name, family="xcit",
        config=zoo.config(embed_dim=_dim, depth=_depth, num_heads=_num_heads, tokens_norm=_tokens_norm),
        data=_DATA, num_params=_num_params, aliases=(f"xcit_{_size.replace('_', '')}_p16",),
        hf_hub_id=f"timm/{_name}"))
