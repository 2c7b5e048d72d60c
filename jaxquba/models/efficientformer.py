"""EfficientFormer (Li et al. 2022) as timm's ``efficientformer`` builds it.

A convolutional stem (two 3x3 stride-2 conv + batch norm + ReLU) and four stages (3x3 stride-2 conv + batch norm
between them) of PoolFormer-style blocks on NHWC maps: ``x + ls1 * (avgpool3x3(x) - x)`` (padding not counted) and
``x + ls2 * mlp(x)`` with a 1x1-conv MLP (conv, BN, GELU, conv, BN). The last ``num_vit`` blocks of the last stage
flatten the map to tokens and are pre-norm transformer blocks (LayerNorm eps 1e-5, layer scales) whose attention is
LeViT's: 8 heads of key width 32 and value width 128 laid out per head as [q, k, v], plus a learnt bias per head for
each absolute offset (|dy|, |dx|) on the 7x7 map. Final LayerNorm, mean over tokens, and the mean of two heads (class
and distillation), as timm evaluates the distilled checkpoints (``snap_dist_in1k``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-5
KEY_DIM, NUM_HEADS, ATTN_RATIO, RESOLUTION = 32, 8, 4, 7


def attention_bias_index(resolution: int) -> np.ndarray:
    """(N, N) index |dy| * resolution + |dx| of each token pair on a row-major resolution x resolution map."""
    pos = np.arange(resolution * resolution)
    dy = np.abs((pos // resolution)[:, None] - (pos // resolution)[None, :])
    dx = np.abs((pos % resolution)[:, None] - (pos % resolution)[None, :])
    return dy * resolution + dx


def stage_layout(depth: int, num_vit: int) -> list[str]:
    """timm's ``stages.i.blocks`` sequence: 'pool' (2-D block), 'flat' (to tokens), 'attn' (transformer block)."""
    layout = ["flat"] if num_vit and num_vit >= depth else []
    for block in range(depth):
        remaining = depth - block - 1
        if num_vit and num_vit > remaining:
            layout.append("attn")
        else:
            layout.append("pool")
            if num_vit and num_vit == remaining:
                layout.append("flat")
    return layout


class Attention(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        val_dim = ATTN_RATIO * KEY_DIM
        biases = self.param("attention_biases", nn.initializers.zeros, (NUM_HEADS, RESOLUTION ** 2), jnp.float32)
        qkv = layers.dense(NUM_HEADS * (2 * KEY_DIM + val_dim), self.dtype, name="qkv")(x).reshape(b, n, NUM_HEADS, -1)
        q, k, v = qkv[..., :KEY_DIM], qkv[..., KEY_DIM:2 * KEY_DIM], qkv[..., 2 * KEY_DIM:]
        out = layers.dot_product_attention(q, k, v, biases[:, attention_bias_index(RESOLUTION)])
        return layers.dense(c, self.dtype, name="proj")(out.reshape(b, n, NUM_HEADS * val_dim))


def _scale(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    return x * module.param(name, nn.initializers.ones, (x.shape[-1],), jnp.float32).astype(x.dtype)


class PoolBlock(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        pooled = nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)
        x = x + _scale(self, "ls1_gamma", pooled - x)
        y = layers.conv(4 * c, 1, dtype=self.dtype, name="mlp_fc1")(x)
        y = layers.gelu(layers.FrozenBatchNorm(dtype=self.dtype, name="mlp_norm1")(y))
        y = layers.FrozenBatchNorm(dtype=self.dtype, name="mlp_norm2")(layers.conv(c, 1, dtype=self.dtype,
                                                                                    name="mlp_fc2")(y))
        return x + _scale(self, "ls2_gamma", y)


class AttentionBlock(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = Attention(self.dtype, name="token_mixer")(layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x))
        x = x + _scale(self, "ls1_gamma", y)
        y = layers.Mlp(4 * x.shape[-1], self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))
        return x + _scale(self, "ls2_gamma", y)


class EfficientFormer(nn.Module):
    """Normalised NHWC images (224 x 224: the attention biases are for a 7x7 last stage) -> logits."""

    depths: tuple[int, ...]
    embed_dims: tuple[int, ...]
    num_vit: int
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        for i, width in enumerate((self.embed_dims[0] // 2, self.embed_dims[0])):
            x = layers.conv(width, 3, 2, 1, dtype=self.dtype, name=f"stem_conv{i + 1}")(x)
            x = nn.relu(layers.FrozenBatchNorm(dtype=self.dtype, name=f"stem_norm{i + 1}")(x))
        last = len(self.depths) - 1
        for stage, (depth, width) in enumerate(zip(self.depths, self.embed_dims)):
            if stage > 0:
                x = layers.conv(width, 3, 2, 1, dtype=self.dtype, name=f"stages_{stage}_downsample_conv")(x)
                x = layers.FrozenBatchNorm(dtype=self.dtype, name=f"stages_{stage}_downsample_norm")(x)
            for i, kind in enumerate(stage_layout(depth, self.num_vit if stage == last else 0)):
                if kind == "flat":
                    if x.shape[1:3] != (RESOLUTION, RESOLUTION):
                        raise ValueError(f"EfficientFormer's attention needs a {RESOLUTION}x{RESOLUTION} last stage "
                                         f"(224 px input), got {x.shape[1:3]}")
                    x = x.reshape(x.shape[0], -1, width)
                else:
                    block = PoolBlock if kind == "pool" else AttentionBlock
                    x = block(self.dtype, name=f"stages_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x).mean(axis=1)
        head = layers.dense(self.num_classes, self.dtype, name="head")(x)
        return (head + layers.dense(self.num_classes, self.dtype, name="head_dist")(x)) / 2


def build(dtype=jnp.float32, **config) -> EfficientFormer:
    return EfficientFormer(dtype=dtype, **config)


register_family("efficientformer", build, converter="converters.efficientformer:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.95, "bicubic")

for _size, _depths, _dims, _num_vit, _num_params in (  # timm's parameter counts (both heads)
        ("l1", (3, 2, 6, 4), (48, 96, 224, 448), 1, 12_289_928),
        ("l3", (4, 4, 12, 6), (64, 128, 320, 512), 4, 31_406_000),
        ("l7", (6, 6, 18, 8), (96, 192, 384, 768), 8, 82_229_328)):
    _name = f"efficientformer_{_size}.snap_dist_in1k"
    zoo.register(zoo.ModelSpec(name=_name, family="efficientformer",
                               config=zoo.config(depths=_depths, embed_dims=_dims, num_vit=_num_vit), data=_DATA,
                               num_params=_num_params, aliases=(f"efficientformer_{_size}",),
                               hf_hub_id=f"timm/{_name}"))
