"""Hiera (Ryali et al. 2023) as timm's ``hiera`` builds its image classifiers.

A hierarchical ViT without convolutions after the 7x7 stride-4 patch embedding (+ learnt position embedding). The
tokens are *unrolled* once (timm's ``Unroll``: three times, each 2x2 neighbourhood's members are moved into separate
contiguous quarters of the sequence), so that every later 2x2 max-pool is a max over the four quarters of the
sequence and every 8x8 mask unit is a fixed stride through it. Blocks are pre-norm (LayerNorm eps 1e-6); the first
block of stages 2-4 widens the residual with a Linear and max-pools it (``proj``), and pools its queries the same way.
Stages 1-2 (and the first block of stage 3, which pools into it) attend within mask units; the rest attend globally.
Head: mean of all tokens, LayerNorm, Linear. Weights: the ``mae_in1k_ft_in1k`` tags are Meta's MAE-pre-trained,
ImageNet-1k fine-tuned checkpoints.

Where the weights come from another repository: the published Hiera rows were evaluated through torch.hub
``facebookresearch/hiera`` with the same checkpoints. Its ``Head`` applies a softmax whenever the module is in eval
mode, so that model returns probabilities where timm (and this module) return logits; argmax metrics agree, the
probability-based ones of the published table were computed on softmax(probabilities) (PROTOCOLS P1.2). Its
preprocessing is Resize 224 -> CenterCrop 224 (bilinear), not timm's crop 0.9 bicubic. The published-name specs
(``Hiera-T`` ... ``Hiera-L``) carry both: that preprocessing and ``output='probs'`` (the module still returns logits;
:mod:`jaxquba.protocols` applies the softmax where the protocol reproduces the peer).

The linear-probe rows (``Hiera-T-LP``, ``Hiera-S-LP``, ``Hiera-B-LP``) are the same torch.hub models (``mae_in1k``
pre-training) with the peer's own linear-probe state dict (``quba_constants.HIERA_LP_*``, not published), evaluated
with Resize 256 bicubic -> CenterCrop 224; same architecture and head, so also ``output='probs'`` by the code. (Their
published class balance, 0.75-0.76, does not show the near-uniform-probability signature of the fine-tuned rows,
> 0.92; with the checkpoints unavailable, which code produced those numbers cannot be checked.) Their weights load
from a file only (``--weights=PATH``, in the hub model's layout: family ``hiera_hub``).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6
Q_STRIDE = 4  # 2x2 pooling, flattened
MASK_UNIT = 64  # 8x8 tokens


def unroll_order(grid: int, levels: int = 3) -> np.ndarray:
    """Token order after timm's ``Unroll`` of a ``grid`` x ``grid`` map with ``levels`` 2x2 strides."""
    x = np.arange(grid * grid).reshape(1, grid, grid)
    b, size = 1, grid
    for _ in range(levels):
        size //= 2
        x = x.reshape(b, size, 2, size, 2).transpose(0, 2, 4, 1, 3).reshape(b * 4, size, size)
        b *= 4
    return x.reshape(-1)


def pool_quarters(x: jax.Array) -> jax.Array:
    """Max over the 4 contiguous quarters of the token axis: a 2x2 max-pool in the unrolled order."""
    b, n = x.shape[:2]
    return x.reshape(b, Q_STRIDE, n // Q_STRIDE, *x.shape[2:]).max(axis=1)


class MaskUnitAttention(nn.Module):
    dim_out: int
    heads: int
    q_stride: int
    window: int  # tokens per mask unit after pooling; 0 = global attention
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, _ = x.shape
        head_dim = self.dim_out // self.heads
        qkv = layers.dense(3 * self.dim_out, self.dtype, name="qkv")(x)
        if self.window:  # token t * num_windows + w belongs to mask unit w
            num_windows = n // (self.q_stride * self.window)
            qkv = qkv.reshape(b, n // num_windows, num_windows, 3, self.heads, head_dim)
            q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]
            if self.q_stride > 1:
                q = pool_quarters(q)

            def per_window(t):  # (B, T, W, heads, d) -> (B * W, T, heads, d)
                return t.transpose(0, 2, 1, 3, 4).reshape(b * num_windows, t.shape[1], self.heads, head_dim)

            out = layers.dot_product_attention(per_window(q), per_window(k), per_window(v))
            out = out.reshape(b, num_windows, -1, self.heads, head_dim).transpose(0, 2, 1, 3, 4)
        else:
            qkv = qkv.reshape(b, n, 3, self.heads, head_dim)
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
            if self.q_stride > 1:
                q = pool_quarters(q)
            out = layers.dot_product_attention(q, k, v)
        return layers.dense(self.dim_out, self.dtype, name="proj")(out.reshape(b, -1, self.dim_out))


class HieraBlock(nn.Module):
    dim_out: int
    heads: int
    q_stride: int
    window: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x_norm = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        if x.shape[-1] != self.dim_out:
            x = pool_quarters(layers.dense(self.dim_out, self.dtype, name="proj")(x_norm))
        x = x + MaskUnitAttention(self.dim_out, self.heads, self.q_stride, self.window, self.dtype, name="attn")(x_norm)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x)
        return x + layers.Mlp(4 * self.dim_out, self.dtype, name="mlp")(y)


def block_plan(embed_dim: int, num_heads: int, stages: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """(dim_out, heads, q_stride, window or 0) of each block, as timm's Hiera constructor lays them out."""
    mask_unit_attn = (True, True, False, False)
    stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
    q_pool_blocks = [end + 1 for end in stage_ends[:3]]
    plan, stage, window = [], 0, MASK_UNIT
    for i in range(sum(stages)):
        use_mask_unit = mask_unit_attn[stage]  # decided before the stage switch: lags one block
        if i - 1 in stage_ends:
            embed_dim, num_heads, stage = embed_dim * 2, num_heads * 2, stage + 1
            if i in q_pool_blocks:
                window //= Q_STRIDE
        plan.append((embed_dim, num_heads, Q_STRIDE if i in q_pool_blocks else 1, window if use_mask_unit else 0))
    return plan


class Hiera(nn.Module):
    """Normalised NHWC images (224 x 224) -> logits."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    img_size: int = 224
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this Hiera takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        x = layers.conv(self.embed_dim, 7, 4, 3, dtype=self.dtype, name="patch_embed")(images.astype(self.dtype))
        grid = x.shape[1]
        x = x.reshape(b, grid * grid, self.embed_dim)
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1, grid * grid, self.embed_dim), jnp.float32)
        x = (x + pos_embed.astype(self.dtype))[:, unroll_order(grid)]
        for i, (dim_out, heads, q_stride, window) in enumerate(block_plan(self.embed_dim, self.num_heads,
                                                                          self.stages)):
            x = HieraBlock(dim_out, heads, q_stride, window, self.dtype, name=f"blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x.mean(axis=1))
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> Hiera:
    return Hiera(dtype=dtype, **config)


register_family("hiera", build, converter="converters.hiera:convert")
register_family("hiera_hub", build, converter="converters.hiera:convert_hub")  # torch.hub facebookresearch/hiera


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.9, "bicubic")
_HUB_FT_DATA = zoo.DataConfig(224, 1.0, "bilinear")  # the peer's Resize 224 -> CenterCrop 224
_HUB_LP_DATA = zoo.DataConfig(224, 0.875, "bicubic")  # the peer's Resize 256 bicubic -> CenterCrop 224
_PUBLISHED = {"tiny": "Hiera-T", "small": "Hiera-S", "base": "Hiera-B", "base_plus": "Hiera-B-Plus", "large": "Hiera-L"}

for _size, _dim, _num_heads, _stages, _num_params, _alias in (  # timm's parameter counts
        ("tiny", 96, 1, (1, 2, 7, 2), 27_910_216, "hiera_t"),
        ("small", 96, 1, (1, 2, 11, 2), 35_008_072, "hiera_s"),
        ("base", 96, 1, (2, 3, 16, 3), 51_524_968, "hiera_b"),
        ("base_plus", 112, 2, (2, 3, 16, 3), 69_896_616, "hiera_b_plus"),
        ("large", 144, 2, (2, 6, 36, 4), 213_739_912, "hiera_l")):
    _name = f"hiera_{_size}_224.mae_in1k_ft_in1k"
    _spec = zoo.register(zoo.ModelSpec(name=_name, family="hiera",
                                       config=zoo.config(embed_dim=_dim, num_heads=_num_heads, stages=_stages),
                                       data=_DATA, num_params=_num_params, aliases=(_alias,),
                                       hf_hub_id=f"timm/{_name}"))
    # The published rows: the same checkpoints through torch.hub (softmax head, its preprocessing) ...
    zoo.register(dataclasses.replace(_spec, name=_PUBLISHED[_size], aliases=(), data=_HUB_FT_DATA, output="probs"))
    if _size in ("tiny", "small", "base"):  # ... and the peer's linear probes of the mae_in1k pre-training
        zoo.register(dataclasses.replace(_spec, name=f"{_PUBLISHED[_size]}-LP", aliases=(), family="hiera_hub",
                                         data=_HUB_LP_DATA, hf_hub_id=None, output="probs"))
