"""DaViT, Dual Attention Vision Transformers (Ding et al. 2022), as timm's ``davit`` builds them.

A 7x7 stride-4 conv stem + LayerNorm, four stages (LayerNorm + 2x2 stride-2 conv between them), each a sequence of
dual blocks: a *spatial* block (self-attention in non-overlapping 7x7 windows, no shift) followed by a *channel* block
(per head, a softmax over channels of ``(k * scale)^T v`` mixes the channels of q: attention across channels with
all tokens as the "sequence"). Both blocks start with a depthwise 3x3 conv added to its input (``cpe1``) and add
another after the attention (``cpe2``), pre-norm LayerNorms (eps 1e-5) and a GELU MLP. Head: mean pool, LayerNorm,
Linear.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.swin import window_partition, window_reverse

LN_EPS = 1e-5
WINDOW = 7


def conv_pos_enc(x: jax.Array, dtype: layers.Dtype, name: str) -> jax.Array:
    """x + depthwise 3x3 conv(x) on an NHWC map (timm ``ConvPosEnc`` without activation)."""
    c = x.shape[-1]
    return x + layers.conv(c, 3, 1, 1, groups=c, dtype=dtype, name=name)(x)


class ChannelAttention(nn.Module):
    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        qkv = layers.dense(3 * c, self.dtype, name="qkv")(x).reshape(b, n, 3, self.num_heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bnhi,bnhj->bhij", k * jnp.asarray(head_dim ** -0.5, k.dtype), v,
                            preferred_element_type=jnp.float32)
        weights = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
        out = jnp.einsum("bhij,bnhj->bnhi", weights, q).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class DualBlock(nn.Module):
    """One spatial block then one channel block (timm's ``stages.i.blocks.j.0`` and ``.1``) on an NHWC map."""

    num_heads: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        if h % WINDOW or w % WINDOW:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the window {WINDOW}")
        for kind in ("spatial", "channel"):
            p = f"{kind}_"
            x = conv_pos_enc(x, self.dtype, p + "cpe1")
            y = layers.layer_norm(LN_EPS, self.dtype, name=p + "norm1")(x)
            if kind == "spatial":
                y = layers.SelfAttention(self.num_heads, True, self.dtype, name=p + "attn")(window_partition(y, WINDOW))
                y = window_reverse(y, WINDOW, h, w)
            else:
                y = ChannelAttention(self.num_heads, self.dtype, name=p + "attn")(y.reshape(b, h * w, c))
                y = y.reshape(b, h, w, c)
            x = conv_pos_enc(x + y, self.dtype, p + "cpe2")
            x = x + layers.Mlp(4 * c, self.dtype, name=p + "mlp")(
                layers.layer_norm(LN_EPS, self.dtype, name=p + "norm2")(x))
        return x


class DaVit(nn.Module):
    """Normalised NHWC images -> logits."""

    depths: tuple[int, ...]
    embed_dims: tuple[int, ...]
    num_heads: tuple[int, ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = layers.conv(self.embed_dims[0], 7, 4, 3, dtype=self.dtype, name="stem_conv")(images.astype(self.dtype))
        x = layers.layer_norm(LN_EPS, self.dtype, name="stem_norm")(x)
        for stage, (depth, dim, heads) in enumerate(zip(self.depths, self.embed_dims, self.num_heads)):
            if stage > 0:
                x = layers.layer_norm(LN_EPS, self.dtype, name=f"stages_{stage}_downsample_norm")(x)
                x = layers.conv(dim, 2, 2, dtype=self.dtype, name=f"stages_{stage}_downsample_conv")(x)
            for i in range(depth):
                x = DualBlock(heads, self.dtype, name=f"stages_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x.mean(axis=(1, 2)))
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> DaVit:
    return DaVit(dtype=dtype, **config)


register_family("davit", build, converter="converters.davit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.95, "bicubic")

for _size, _depths, _dims, _stage_heads, _num_params in (  # timm's parameter counts
        ("tiny", (1, 1, 3, 1), (96, 192, 384, 768), (3, 6, 12, 24), 28_360_168),
        ("small", (1, 1, 9, 1), (96, 192, 384, 768), (3, 6, 12, 24), 49_745_896),
        ("base", (1, 1, 9, 1), (128, 256, 512, 1024), (4, 8, 16, 32), 87_954_408)):
    _name = f"davit_{_size}.msft_in1k"
    zoo.register(zoo.ModelSpec(name=_name, family="davit",
                               config=zoo.config(depths=_depths, embed_dims=_dims, num_heads=_stage_heads), data=_DATA,
                               num_params=_num_params, aliases=(f"davit_{_size[0]}",), hf_hub_id=f"timm/{_name}"))
