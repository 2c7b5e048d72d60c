"""CoaT-Lite, Co-Scale Conv-Attentional Image Transformers (Xu et al. 2021), as timm's ``coat`` builds them.

Four stages, each a patch embedding (conv with kernel = stride 4, then 2; LayerNorm eps 1e-5) followed by a class
token and serial blocks. A block first adds a depthwise 3x3 conv of the patch map to itself (``cpe``, shared by the
stage's blocks, class token untouched), then ``x + proj(factorised attention)`` and ``x + mlp(x)``, pre-norm with
LayerNorm eps 1e-6. Factorised attention: ``scale * q (softmax_tokens(k)^T v)`` plus a convolutional relative
position term ``q * dwconv(v)`` on the patch tokens (``crpe``, shared by the stage; heads split 2/3/3 over 3x3, 5x5
and 7x7 kernels; zero for the class token). The head reads the final-normed class token of the last stage.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6
PATCH_LN_EPS = 1e-5
NUM_HEADS = 8
CRPE_WINDOWS = ((3, 2), (5, 3), (7, 3))  # (kernel, heads) in channel order


class ConvPosEnc(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, size: tuple[int, int]) -> jax.Array:
        b, _, c = x.shape
        feat = x[:, 1:].reshape(b, *size, c)
        feat = layers.conv(c, 3, 1, 1, groups=c, dtype=self.dtype, name="proj")(feat) + feat
        return jnp.concatenate([x[:, :1], feat.reshape(b, -1, c)], axis=1)


class ConvRelPosEnc(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, q: jax.Array, v: jax.Array, size: tuple[int, int]) -> jax.Array:
        """q, v: (B, N, heads, Ch) -> (B, N, heads, Ch), zero on the class token."""
        b, _, heads, ch = v.shape
        v_img = v[:, 1:].reshape(b, *size, heads * ch)
        outs, start = [], 0
        for i, (kernel, split) in enumerate(CRPE_WINDOWS):
            width = split * ch
            outs.append(layers.conv(width, kernel, 1, kernel // 2, groups=width, dtype=self.dtype,
                                    name=f"conv_list_{i}")(v_img[..., start:start + width]))
            start += width
        conv_v = jnp.concatenate(outs, axis=-1).reshape(b, -1, heads, ch)
        return jnp.pad(q[:, 1:] * conv_v, ((0, 0), (1, 0), (0, 0), (0, 0)))


class FactorAttention(nn.Module):
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, size: tuple[int, int], crpe: ConvRelPosEnc) -> jax.Array:
        b, n, c = x.shape
        ch = c // NUM_HEADS
        qkv = layers.dense(3 * c, self.dtype, name="qkv")(x).reshape(b, n, 3, NUM_HEADS, ch)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        k_softmax = jax.nn.softmax(k.astype(jnp.float32), axis=1).astype(v.dtype)  # over tokens, float32
        context = jnp.einsum("bnhk,bnhv->bhkv", k_softmax, v)
        factor = jnp.einsum("bnhk,bhkv->bnhv", q, context)
        out = jnp.asarray(ch ** -0.5, factor.dtype) * factor + crpe(q, v, size)
        return layers.dense(c, self.dtype, name="proj")(out.reshape(b, n, c))


class SerialBlock(nn.Module):
    mlp_ratio: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, size: tuple[int, int], cpe: ConvPosEnc, crpe: ConvRelPosEnc) -> jax.Array:
        x = cpe(x, size)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        x = x + FactorAttention(self.dtype, name="factoratt_crpe")(y, size, crpe)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x)
        return x + layers.Mlp(int(x.shape[-1] * self.mlp_ratio), self.dtype, name="mlp")(y)


class CoaTLite(nn.Module):
    """Normalised NHWC images -> logits."""

    embed_dims: tuple[int, ...]
    serial_depths: tuple[int, ...]
    mlp_ratios: tuple[float, ...] = (4, 4, 4, 4)
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        b = x.shape[0]
        for stage, (dim, depth) in enumerate(zip(self.embed_dims, self.serial_depths), start=1):
            patch = 4 if stage == 1 else 2
            x = layers.conv(dim, patch, patch, padding="VALID", dtype=self.dtype, name=f"patch_embed{stage}_proj")(x)
            size = x.shape[1:3]
            x = layers.layer_norm(PATCH_LN_EPS, self.dtype, name=f"patch_embed{stage}_norm")(x.reshape(b, -1, dim))
            cls = self.param(f"cls_token{stage}", nn.initializers.zeros, (1, 1, dim), jnp.float32)
            x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, dim)).astype(self.dtype), x], axis=1)
            cpe = ConvPosEnc(self.dtype, name=f"cpe{stage}")
            crpe = ConvRelPosEnc(self.dtype, name=f"crpe{stage}")
            for i in range(depth):
                x = SerialBlock(self.mlp_ratios[stage - 1], self.dtype, name=f"serial_blocks{stage}_{i}")(
                    x, size, cpe, crpe)
            if stage < len(self.embed_dims):
                x = x[:, 1:].reshape(b, *size, dim)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm4")(x[:, 0])
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def build(dtype=jnp.float32, **config) -> CoaTLite:
    return CoaTLite(dtype=dtype, **config)


register_family("coat_lite", build, converter="converters.coat:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.9, "bicubic")

for _size, _dims, _depths, _ratios, _num_params in (  # timm's parameter counts
        ("tiny", (64, 128, 256, 320), (2, 2, 2, 2), (8, 8, 4, 4), 5_721_960),
        ("mini", (64, 128, 320, 512), (2, 2, 2, 2), (8, 8, 4, 4), 11_011_560),
        ("small", (64, 128, 320, 512), (3, 4, 6, 3), (8, 8, 4, 4), 19_838_504),
        ("medium", (128, 256, 320, 512), (3, 6, 10, 8), (4, 4, 4, 4), 44_571_048)):
    _name = f"coat_lite_{_size}.in1k"
    zoo.register(zoo.ModelSpec(name=_name, family="coat_lite",
                               config=zoo.config(embed_dims=_dims, serial_depths=_depths, mlp_ratios=_ratios),
                               data=_DATA, num_params=_num_params, aliases=(f"coat_lite_{_size}",),
                               hf_hub_id=f"timm/{_name}"))
