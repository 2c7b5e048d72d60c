"""CaiT, Class-Attention in Image Transformers (Touvron et al. 2021), as timm's ``cait`` builds it.

A ViT trunk without class token whose blocks use *talking-heads* attention (the attention logits and the softmax
weights are each mixed across heads by a learnt heads x heads linear map) and per-channel layer scales
(``gamma_1``/``gamma_2``); then two *class-attention* blocks in which only the class token queries the patch tokens
(keys and values are computed over [class token, patches]) and only the class token is updated. Final LayerNorm over
all tokens, head on the class token. Position embeddings cover the patches only; the class token joins after the
trunk. Weights: timm's ``fb_dist_in1k`` tags are the official DeiT repository's (distilled) checkpoints.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6


def _split_heads(x: jax.Array, num_heads: int) -> jax.Array:
    """(B, N, C) -> (B, N, heads, C/heads)."""
    return x.reshape(x.shape[0], x.shape[1], num_heads, -1)


class TalkingHeadAttention(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        qkv = layers.dense(3 * c, self.dtype, name="qkv")(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        scale = jnp.asarray((c // self.num_heads) ** -0.5, q.dtype)
        logits = jnp.einsum("bqhd,bkhd->bqkh", q * scale, k, preferred_element_type=jnp.float32)
        # The head-mixing maps run in float32 around the softmax: they act on the logits and on the weights.
        logits = layers.dense(self.num_heads, jnp.float32, name="proj_l")(logits)
        weights = jax.nn.softmax(logits, axis=2)
        weights = layers.dense(self.num_heads, jnp.float32, name="proj_w")(weights).astype(v.dtype)
        out = jnp.einsum("bqkh,bkhd->bqhd", weights, v).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class ClassAttention(nn.Module):
    """The class token (first row of ``x``) attends to every token; returns its update (B, 1, C)."""

    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        q = _split_heads(layers.dense(c, self.dtype, name="q")(x[:, :1]), self.num_heads)
        k = _split_heads(layers.dense(c, self.dtype, name="k")(x), self.num_heads)
        v = _split_heads(layers.dense(c, self.dtype, name="v")(x), self.num_heads)
        out = layers.dot_product_attention(q, k, v).reshape(x.shape[0], 1, c)
        return layers.dense(c, self.dtype, name="proj")(out)


def _gamma(module: nn.Module, name: str, dim: int) -> jax.Array:
    return module.param(name, nn.initializers.ones, (dim,), jnp.float32)


class Block(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        y = TalkingHeadAttention(self.num_heads, self.dtype, name="attn")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x))
        x = x + y * _gamma(self, "gamma_1", c).astype(self.dtype)
        y = layers.Mlp(4 * c, self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))
        return x + y * _gamma(self, "gamma_2", c).astype(self.dtype)


class ClassAttentionBlock(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, cls: jax.Array) -> jax.Array:
        c = x.shape[-1]
        u = jnp.concatenate([cls, x], axis=1)
        y = ClassAttention(self.num_heads, self.dtype, name="attn")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm1")(u))
        cls = cls + y * _gamma(self, "gamma_1", c).astype(self.dtype)
        y = layers.Mlp(4 * c, self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(cls))
        return cls + y * _gamma(self, "gamma_2", c).astype(self.dtype)


class Cait(nn.Module):
    """Normalised NHWC images (img_size x img_size) -> logits."""

    embed_dim: int
    depth: int
    num_heads: int
    img_size: int = 224
    patch_size: int = 16
    depth_token_only: int = 2
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this CaiT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        x = layers.conv(self.embed_dim, self.patch_size, self.patch_size, padding="VALID", dtype=self.dtype,
                        name="patch_embed")(images.astype(self.dtype)).reshape(b, -1, self.embed_dim)
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1, x.shape[1], self.embed_dim), jnp.float32)
        x = x + pos_embed.astype(self.dtype)
        for i in range(self.depth):
            x = Block(self.num_heads, self.dtype, name=f"blocks_{i}")(x)
        cls = self.param("cls_token", nn.initializers.zeros, (1, 1, self.embed_dim), jnp.float32)
        cls = jnp.broadcast_to(cls, (b, 1, self.embed_dim)).astype(self.dtype)
        for i in range(self.depth_token_only):
            cls = ClassAttentionBlock(self.num_heads, self.dtype, name=f"blocks_token_only_{i}")(x, cls)
        # The final norm is per token, so normalising the class token alone equals timm's norm over all tokens.
        cls = layers.layer_norm(LN_EPS, self.dtype, name="norm")(cls[:, 0])
        return layers.dense(self.num_classes, self.dtype, name="head")(cls)


def build(dtype=jnp.float32, **config) -> Cait:
    return Cait(dtype=dtype, **config)


register_family("cait", build, converter="converters.cait:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = {224: zoo.DataConfig(224, 1.0, "bicubic"), 384: zoo.DataConfig(384, 1.0, "bicubic")}

# The published CaiT rows are the 384 px models (their Params column: 12.0, 26.7, 47.1M); the 224 px ones are cheaper.
for _arch, _dim, _depth, _heads, _img, _num_params, _alias in (  # timm's parameter counts (1000 classes)
        ("cait_xxs24_224", 192, 24, 4, 224, 11_956_264, "cait_xxs24"),
        ("cait_xxs24_384", 192, 24, 4, 384, 12_029_224, "cait_xxs24_384"),
        ("cait_xs24_384", 288, 24, 6, 384, 26_670_088, "cait_xs24"),
        ("cait_s24_224", 384, 24, 8, 224, 46_916_200, "cait_s24"),
        ("cait_s24_384", 384, 24, 8, 384, 47_062_120, "cait_s24_384")):
    zoo.register(zoo.ModelSpec(
        name=f"{_arch}.fb_dist_in1k", family="cait",
        config=zoo.config(embed_dim=_dim, depth=_depth, num_heads=_heads, img_size=_img), data=_DATA[_img],
        num_params=_num_params, aliases=(_alias,), hf_hub_id=f"timm/{_arch}.fb_dist_in1k"))
