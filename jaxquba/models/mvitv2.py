"""MViTv2 (Li et al. 2022) as timm's ``mvitv2`` builds its ImageNet classifiers (no class token).

A 7x7 stride-4 conv patch embedding, then four stages of pooling-attention blocks (LayerNorm eps 1e-6). In every
block q, k and v are pooled on the token grid by depthwise 3x3 convolutions shared by the heads (stride 2 for q in
the first block of stages 2-4; stride 4, 2, 1, 1 for k and v by stage) and LayerNorm-ed per head; attention adds
decomposed relative position terms (q . table_h[dy] + q . table_w[dx], offsets scaled to the coarser grid) and the
pooled q itself (residual pooling). The first block of a stage widens the residual with a Linear of the normed input,
max-pooled 3x3/2 where q is strided. Final LayerNorm, mean of the tokens, Linear head.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6
KV_STRIDES = (4, 2, 1, 1)


def rel_index(q_size: int, k_size: int) -> np.ndarray:
    """(q, k) index into a (2 * max(q, k) - 1) relative table, offsets scaled to the coarser of the two grids."""
    q_ratio, k_ratio = max(k_size / q_size, 1.0), max(q_size / k_size, 1.0)
    dist = np.arange(q_size)[:, None] * q_ratio - np.arange(k_size)[None, :] * k_ratio + (k_size - 1) * k_ratio
    return dist.astype(np.int64)  # truncation, as timm's .long()


class PoolingAttention(nn.Module):
    dim_out: int
    num_heads: int
    stride_q: int
    stride_kv: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, size: int) -> tuple[jax.Array, int]:
        b, n, _ = x.shape
        heads, hd = self.num_heads, self.dim_out // self.num_heads
        qkv = layers.dense(3 * self.dim_out, self.dtype, name="qkv")(x).reshape(b, size, size, 3, heads, hd)

        def pool(t, stride, name):  # (B, H, W, heads, hd) -> (B, heads, N', hd), depthwise conv shared by heads
            t = t.transpose(0, 3, 1, 2, 4).reshape(b * heads, size, size, hd)
            t = layers.conv(hd, 3, stride, 1, groups=hd, use_bias=False, dtype=self.dtype, name=f"pool_{name}")(t)
            t = layers.layer_norm(LN_EPS, self.dtype, name=f"norm_{name}")(t)
            return t.reshape(b, heads, -1, hd), t.shape[1]

        q, q_size = pool(qkv[:, :, :, 0], self.stride_q, "q")
        k, k_size = pool(qkv[:, :, :, 1], self.stride_kv, "k")
        v, _ = pool(qkv[:, :, :, 2], self.stride_kv, "v")
        table_len = 2 * max(size // self.stride_q, size // self.stride_kv) - 1
        rel_h = self.param("rel_pos_h", nn.initializers.zeros, (table_len, hd), jnp.float32)
        rel_w = self.param("rel_pos_w", nn.initializers.zeros, (table_len, hd), jnp.float32)
        index = rel_index(q_size, k_size)
        logits = jnp.einsum("bhqd,bhkd->bhqk", q * jnp.asarray(hd ** -0.5, q.dtype), k,
                            preferred_element_type=jnp.float32)
        grid_q = q.reshape(b, heads, q_size, q_size, hd).astype(jnp.float32)
        term_h = jnp.einsum("byhwc,hkc->byhwk", grid_q, rel_h[index])
        term_w = jnp.einsum("byhwc,wkc->byhwk", grid_q, rel_w[index])
        logits = (logits.reshape(b, heads, q_size, q_size, k_size, k_size) + term_h[..., :, None]
                  + term_w[..., None, :]).reshape(b, heads, q_size * q_size, k_size * k_size)
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        out = jnp.einsum("bhqk,bhkd->bhqd", weights, v) + q  # residual pooling
        out = out.transpose(0, 2, 1, 3).reshape(b, -1, self.dim_out)
        return layers.dense(self.dim_out, self.dtype, name="proj")(out), q_size


class MultiScaleBlock(nn.Module):
    """``expand_attn`` (all but Large): the attention widens to ``dim_out`` (residual through a Linear of the normed
    input); otherwise the attention keeps the input width and the MLP widens (residual through a Linear of norm2)."""

    dim_out: int
    num_heads: int
    stride_q: int
    stride_kv: int
    expand_attn: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, size: int) -> tuple[jax.Array, int]:
        b, _, dim = x.shape
        att_dim = self.dim_out if self.expand_attn else dim
        x_norm = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        shortcut = x if att_dim == dim else layers.dense(att_dim, self.dtype, name="shortcut_proj_attn")(x_norm)
        if self.stride_q > 1:
            grid = shortcut.reshape(b, size, size, att_dim)
            shortcut = nn.max_pool(grid, (3, 3), (2, 2), padding=((1, 1), (1, 1))).reshape(b, -1, att_dim)
        y, size = PoolingAttention(att_dim, self.num_heads, self.stride_q, self.stride_kv, self.dtype,
                                   name="attn")(x_norm, size)
        x = shortcut + y
        x_norm = layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x)
        shortcut = x if att_dim == self.dim_out else layers.dense(self.dim_out, self.dtype,
                                                                  name="shortcut_proj_mlp")(x_norm)
        y = MlpOut(4 * att_dim, self.dim_out, self.dtype, name="mlp")(x_norm)
        return shortcut + y, size


class MlpOut(nn.Module):
    """timm ``Mlp`` with its own output width (``mlp.fc1``/``mlp.fc2``)."""

    hidden: int
    out: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.gelu(layers.dense(self.hidden, self.dtype, name="fc1")(x))
        return layers.dense(self.out, self.dtype, name="fc2")(x)


def block_plan(depths: tuple[int, ...], embed_dim: int, num_heads: int, expand_attn: bool
               ) -> list[list[tuple[int, int, int, int]]]:
    """Per stage, per block: (dim_out, heads, stride_q, stride_kv), as timm lays them out."""
    last = len(depths) - 1
    plan = []
    dim = embed_dim
    for stage, depth in enumerate(depths):
        heads = num_heads * 2 ** stage
        dim_out = embed_dim * 2 ** (stage if expand_attn else min(stage + 1, last))
        outs = [dim_out] * depth if expand_attn else [dim] * (depth - 1) + [dim_out]
        plan.append([(outs[i], heads, 2 if stage > 0 and i == 0 else 1, KV_STRIDES[stage]) for i in range(depth)])
        dim = dim_out
    return plan


class MultiScaleVit(nn.Module):
    """Normalised NHWC images (224 x 224: the relative tables are sized for it) -> logits."""

    depths: tuple[int, ...]
    embed_dim: int = 96
    num_heads: int = 1
    expand_attn: bool = True
    img_size: int = 224
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this MViTv2 takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        x = layers.conv(self.embed_dim, 7, 4, 3, dtype=self.dtype, name="patch_embed")(images.astype(self.dtype))
        size = x.shape[1]
        x = x.reshape(x.shape[0], -1, self.embed_dim)
        for stage, blocks in enumerate(block_plan(self.depths, self.embed_dim, self.num_heads, self.expand_attn)):
            for i, (dim_out, heads, stride_q, stride_kv) in enumerate(blocks):
                x, size = MultiScaleBlock(dim_out, heads, stride_q, stride_kv, self.expand_attn, self.dtype,
                                          name=f"stages_{stage}_blocks_{i}")(x, size)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x).mean(axis=1)
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> MultiScaleVit:
    return MultiScaleVit(dtype=dtype, **config)


register_family("mvitv2", build, converter="converters.mvitv2:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.9, "bicubic")

for _size, _depths, _dim, _num_heads, _expand, _num_params in (  # timm's parameter counts
        ("tiny", (1, 2, 5, 2), 96, 1, True, 24_173_320),
        ("small", (1, 2, 11, 2), 96, 1, True, 34_870_216),
        ("base", (2, 3, 16, 3), 96, 1, True, 51_472_744),
        ("large", (2, 6, 36, 4), 144, 2, False, 217_992_952)):
    _name = f"mvitv2_{_size}.fb_in1k"
    _config = zoo.config(depths=_depths, embed_dim=_dim, num_heads=_num_heads, expand_attn=_expand)
    zoo.register(zoo.ModelSpec(name=_name, family="mvitv2", config=_config, data=_DATA,
                               num_params=_num_params, aliases=(f"mvitv2_{_size[0]}",), hf_hub_id=f"timm/{_name}"))
