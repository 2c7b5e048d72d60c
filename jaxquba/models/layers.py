"""Building blocks shared by the Flax model families (transformer MLP and attention, layer norm, frozen batch norm).

Every block follows the family conventions of :mod:`jaxquba.models`: parameters are float32, computation runs in
``dtype``; numerically sensitive reductions (normalisation statistics, softmax) run in float32 whatever ``dtype`` is,
as PyTorch autocast does, so bfloat16 inference stays close to float32.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any


def gelu(x: jax.Array) -> jax.Array:
    """The exact (erf) GELU that timm's models use; the tanh approximation would drift from PyTorch."""
    return nn.gelu(x, approximate=False)


def layer_norm(epsilon: float, dtype: Dtype, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm over the last axis with two-pass variance (the fast E[x^2]-E[x]^2 form loses float32 accuracy)."""
    return nn.LayerNorm(epsilon=epsilon, dtype=dtype, param_dtype=jnp.float32, use_fast_variance=False, name=name)


def dense(features: int, dtype: Dtype, use_bias: bool = True, name: str | None = None) -> nn.Dense:
    return nn.Dense(features, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32, name=name)


class Mlp(nn.Module):
    """Transformer feed-forward block: fc1 -> GELU -> fc2."""

    hidden_features: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out_features = x.shape[-1]
        x = gelu(dense(self.hidden_features, self.dtype, name="fc1")(x))
        return dense(out_features, self.dtype, name="fc2")(x)


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch (CaiT / DeiT-III ``ls`` and ConvNeXt ``gamma``)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        gamma = self.param("gamma", nn.initializers.ones, (x.shape[-1],), jnp.float32)
        return x * gamma.astype(x.dtype)


def dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """Softmax attention on (batch, tokens, heads, head_dim) arrays; ``bias`` is added to the logits.

    ``bias`` broadcasts against (batch, heads, query, key). Logits and softmax are float32 whatever the input
    dtype, the same precision PyTorch's fused attention keeps under autocast.
    """
    scale = q.shape[-1] ** -0.5
    logits = jnp.einsum("bqhd,bkhd->bhqk", q * jnp.asarray(scale, q.dtype), k,
                        preferred_element_type=jnp.float32)
    if bias is not None:
        logits = logits + bias
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (timm layout: q, k, v blocks of ``dim`` rows).

    ``bias`` (optional) is added to the attention logits: Swin's relative position bias and shifted-window mask.
    """

    num_heads: int
    qkv_bias: bool = True
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, bias: jax.Array | None = None) -> jax.Array:
        batch, tokens, dim = x.shape
        head_dim = dim // self.num_heads
        qkv = dense(3 * dim, self.dtype, use_bias=self.qkv_bias, name="qkv")(x)
        q, k, v = jnp.split(qkv.reshape(batch, tokens, 3, self.num_heads, head_dim), 3, axis=2)
        out = dot_product_attention(q[:, :, 0], k[:, :, 0], v[:, :, 0], bias)
        return dense(dim, self.dtype, name="proj")(out.reshape(batch, tokens, dim))


class FrozenBatchNorm(nn.Module):
    """Inference batch norm whose running statistics are ordinary parameters (``mean``, ``var``).

    Keeping the statistics in the ``params`` collection lets every family share one plain parameter tree layout;
    the arithmetic is PyTorch's eval-mode formula ``(x - mean) / sqrt(var + eps) * scale + bias``.
    """

    epsilon: float = 1e-5
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = (x.shape[-1],)
        scale = self.param("scale", nn.initializers.ones, features, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, features, jnp.float32)
        mean = self.param("mean", nn.initializers.zeros, features, jnp.float32)
        var = self.param("var", nn.initializers.ones, features, jnp.float32)
        multiplier = scale * jax.lax.rsqrt(var + self.epsilon)
        return (x * multiplier.astype(self.dtype) + (bias - mean * multiplier).astype(self.dtype)).astype(self.dtype)


def conv(features: int, kernel: int, stride: int = 1, padding: int | str = 0, groups: int = 1, use_bias: bool = True,
         dtype: Dtype = jnp.float32, name: str | None = None) -> nn.Conv:
    """A 2-D NHWC convolution with PyTorch's symmetric integer padding (or a Flax padding string)."""
    pad = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=pad, feature_group_count=groups,
                   use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32, name=name)


class ConvStem(nn.Module):
    """The convolutional stems of Singh et al. 2023 (RobustBench's ``ConvBlock``, ``ConvBlock1``, ``ConvBlock3``):
    3x3 convs (padding 1) of the given widths and strides, each followed by a LayerNorm over channels (eps 1e-6) and
    the exact GELU; then, where ``proj_dim`` > 0, a 1x1 conv to ``proj_dim`` (the ViT stems end so)."""

    widths: tuple[int, ...]
    strides: tuple[int, ...]
    proj_dim: int = 0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, (width, stride) in enumerate(zip(self.widths, self.strides, strict=True)):
            x = conv(width, 3, stride, padding=1, dtype=self.dtype, name=f"conv_{i}")(x)
            x = gelu(layer_norm(1e-6, self.dtype, name=f"norm_{i}")(x))
        if self.proj_dim:
            x = conv(self.proj_dim, 1, dtype=self.dtype, name="proj")(x)
        return x


def max_pool_ceil(x: jax.Array, kernel: int, stride: int, padding: int = 0) -> jax.Array:
    """``torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)`` on NHWC: the output size rounds up, so a last,
    partial window counts (padded with -inf), unless it would start in the right padding (PyTorch drops it)."""

    def pads(n: int) -> tuple[int, int]:
        out = -(-(n + 2 * padding - kernel) // stride) + 1
        if (out - 1) * stride >= n + padding:
            out -= 1
        return padding, (out - 1) * stride + kernel - n - padding

    pad = ((0, 0), pads(x.shape[1]), pads(x.shape[2]), (0, 0))
    return nn.max_pool(jnp.pad(x, pad, constant_values=-jnp.inf), (kernel, kernel), strides=(stride, stride))
