"""EVA-02 (Fang et al. 2023) as timm's ``eva`` builds it for the ImageNet-1k fine-tuned classifiers.

A pre-norm ViT (class token, learnt absolute position embedding, LayerNorm eps 1e-6) with
  * 2-D axial rotary position embedding (RoPE) on the queries and keys of the patch tokens (the class token is not
    rotated): per head, the first half of the channels rotates with the row index and the second with the column
    index, interleaved pairs ``(x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)`` at frequencies
    ``10000^(-2i / (head_dim/2))``; positions are rescaled to the 16x16 grid of pre-training (``ref_feat_shape``),
    so a 24x24 grid at 336 px uses positions 0, 2/3, 4/3, ...;
  * SwiGLU feed-forward ``fc2(silu(gate) * value)`` with hidden width ``dim * 8/3``: fused as one ``fc1`` whose first
    half is the gate (Tiny, Small) or split ``fc1_g``/``fc1_x`` with a LayerNorm before ``fc2`` (``scale_mlp``, Base);
  * q and v biases only (k has none), fused qkv (Tiny, Small) or separate projections (Base);
  * average pooling over the patch tokens and a LayerNorm (``fc_norm``) before the head.
Weights: the ``mim_in22k_ft_in1k`` tags are BAAI's MIM-pre-trained (ImageNet-22k), ImageNet-1k fine-tuned models.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.clip import OPENAI_MEAN, OPENAI_STD

LN_EPS = 1e-6
ROPE_TEMPERATURE = 10000.0


def rope_table(grid: int, ref_grid: int, head_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(sin, cos), each (grid^2, head_dim), for the row-major patch tokens of a ``grid`` x ``grid`` map."""
    num_bands = head_dim // 4
    bands = 1.0 / ROPE_TEMPERATURE ** (np.arange(0, 2 * num_bands, 2, dtype=np.float32) / (2 * num_bands))
    positions = np.arange(grid, dtype=np.float32) / grid * ref_grid
    rows, cols = np.meshgrid(positions, positions, indexing="ij")
    angles = (np.stack([rows, cols], axis=-1)[..., None] * bands).reshape(grid * grid, 2 * num_bands)
    angles = np.repeat(angles, 2, axis=-1)  # each frequency drives one interleaved pair of channels
    return np.sin(angles).astype(np.float32), np.cos(angles).astype(np.float32)


def apply_rope(x: jax.Array, sin: np.ndarray, cos: np.ndarray) -> jax.Array:
    """Rotates interleaved channel pairs of (B, N, heads, head_dim) patch tokens; float32 arithmetic."""
    x32 = x.astype(jnp.float32)
    rotated = jnp.stack([-x32[..., 1::2], x32[..., ::2]], axis=-1).reshape(x.shape)
    return (x32 * cos[:, None] + rotated * sin[:, None]).astype(x.dtype)


class EvaAttention(nn.Module):
    num_heads: int
    qkv_fused: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, sin: np.ndarray, cos: np.ndarray) -> jax.Array:
        b, n, c = x.shape
        if self.qkv_fused:
            q_bias = self.param("q_bias", nn.initializers.zeros, (c,), jnp.float32)
            v_bias = self.param("v_bias", nn.initializers.zeros, (c,), jnp.float32)
            qkv = layers.dense(3 * c, self.dtype, use_bias=False, name="qkv")(x)
            qkv = qkv + jnp.concatenate([q_bias, jnp.zeros_like(q_bias), v_bias]).astype(self.dtype)
            q, k, v = jnp.split(qkv, 3, axis=-1)
        else:
            q = layers.dense(c, self.dtype, name="q_proj")(x)
            k = layers.dense(c, self.dtype, use_bias=False, name="k_proj")(x)
            v = layers.dense(c, self.dtype, name="v_proj")(x)
        q, k, v = (t.reshape(b, n, self.num_heads, c // self.num_heads) for t in (q, k, v))
        q = jnp.concatenate([q[:, :1], apply_rope(q[:, 1:], sin, cos)], axis=1)  # the class token is not rotated
        k = jnp.concatenate([k[:, :1], apply_rope(k[:, 1:], sin, cos)], axis=1)
        out = layers.dot_product_attention(q, k, v).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class SwiGLU(nn.Module):
    """``fc2(silu(gate) * value)``; fused (``fc1`` = [gate, value]) or split (``fc1_g``, ``fc1_x``, then a norm)."""

    hidden_features: int
    fused: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out_features = x.shape[-1]
        if self.fused:
            gate, value = jnp.split(layers.dense(2 * self.hidden_features, self.dtype, name="fc1")(x), 2, axis=-1)
        else:
            gate = layers.dense(self.hidden_features, self.dtype, name="fc1_g")(x)
            value = layers.dense(self.hidden_features, self.dtype, name="fc1_x")(x)
        x = nn.silu(gate) * value
        if not self.fused:
            x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x)
        return layers.dense(out_features, self.dtype, name="fc2")(x)


class EvaBlock(nn.Module):
    num_heads: int
    mlp_hidden: int
    qkv_fused: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, sin: np.ndarray, cos: np.ndarray) -> jax.Array:
        x = x + EvaAttention(self.num_heads, self.qkv_fused, self.dtype, name="attn")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x), sin, cos)
        # Tiny and Small fuse qkv and the SwiGLU input projection; Base splits both (and norms inside the MLP).
        return x + SwiGLU(self.mlp_hidden, self.qkv_fused, self.dtype, name="mlp")(
            layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))


class Eva02(nn.Module):
    """Normalised NHWC images (img_size x img_size) -> logits."""

    embed_dim: int
    depth: int
    num_heads: int
    img_size: int
    qkv_fused: bool = True
    patch_size: int = 14
    ref_grid: int = 16  # 224 / 14: the pre-training grid RoPE positions are scaled to
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this EVA-02 takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        x = layers.conv(self.embed_dim, self.patch_size, self.patch_size, padding="VALID", dtype=self.dtype,
                        name="patch_embed")(images.astype(self.dtype))
        grid = x.shape[1]
        x = x.reshape(b, grid * grid, self.embed_dim)
        cls = self.param("cls_token", nn.initializers.zeros, (1, 1, self.embed_dim), jnp.float32)
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1, grid * grid + 1, self.embed_dim), jnp.float32)
        x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.embed_dim)).astype(self.dtype), x], axis=1)
        x = x + pos_embed.astype(self.dtype)
        sin, cos = rope_table(grid, self.ref_grid, self.embed_dim // self.num_heads)
        mlp_hidden = int(self.embed_dim * 4 * 2 / 3)
        for i in range(self.depth):
            x = EvaBlock(self.num_heads, mlp_hidden, self.qkv_fused, self.dtype, name=f"blocks_{i}")(x, sin, cos)
        x = layers.layer_norm(LN_EPS, self.dtype, name="fc_norm")(x[:, 1:].mean(axis=1))
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def build(dtype=jnp.float32, **config) -> Eva02:
    return Eva02(dtype=dtype, **config)


register_family("eva02", build, converter="converters.eva:convert")


# --- registry --------------------------------------------------------------------------------------------------------

for _arch, _dim, _num_heads, _img, _fused, _num_params, _alias in (  # timm's parameter counts
        ("eva02_tiny_patch14_336", 192, 3, 336, True, 5_756_584, "eva02_t"),
        ("eva02_small_patch14_336", 384, 6, 336, True, 22_129_000, "eva02_s"),
        ("eva02_base_patch14_448", 768, 12, 448, False, 87_117_544, "eva02_b")):
    _name = f"{_arch}.mim_in22k_ft_in1k"
    zoo.register(zoo.ModelSpec(
        name=_name, family="eva02",
        config=zoo.config(embed_dim=_dim, depth=12, num_heads=_num_heads, img_size=_img, qkv_fused=_fused),
        data=zoo.DataConfig(_img, 1.0, "bicubic", OPENAI_MEAN, OPENAI_STD),
        num_params=_num_params, aliases=(_alias,), hf_hub_id=f"timm/{_name}"))
