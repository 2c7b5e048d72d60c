"""Building blocks shared by the Flax model families (transformer MLP and attention, layer norm, frozen batch norm).

Every block follows the family conventions of :mod:`jaxquba.models`: parameters are float32, computation runs in
``dtype``; numerically sensitive reductions (normalisation statistics, softmax) run in float32 whatever ``dtype`` is,
as PyTorch autocast does, so bfloat16 inference stays close to float32.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any


def gelu(x: jax.Array) -> jax.Array:
    """The exact (erf) GELU that timm's models use, in PyTorch's formula ``x / 2 * (1 + erf(x / sqrt(2)))``.

    The tanh approximation would drift from PyTorch. ``jax.nn.gelu(approximate=False)`` computes the same function
    through ``erfc``, which XLA:CPU evaluates 2.5-4x slower than ``erf`` (ConvNeXt-T's first-stage GELU,
    8x56x56x384: 5.4-8.9 ms against 2.1 ms, PyTorch 2.7 ms); the two differ by about one float32 rounding
    (9.5e-7 at values up to 12).
    """
    return x * 0.5 * (1 + jax.lax.erf(x * 2 ** -0.5))


@jax.custom_jvp
def fusion_boundary(x: jax.Array) -> jax.Array:
    """``x`` unchanged, in a form that ends a YNNPACK fusion on CPU (elsewhere ``x`` itself).

    XLA:CPU hands a matrix product to YNNPACK together with the elementwise producers and consumers around it, and
    materialises every operand of that fusion. A depthwise convolution (:func:`depthwise_conv`'s sum of shifted
    slices) feeding a LayerNorm and a Linear was taken in whole: its 12 partial sums and slices became separate
    8x56x56x96 arrays in ConvNeXt-T's first stage (one block 46 ms, PyTorch 33 ms). ``clamp(-inf, x, inf)`` is
    an exact identity, NaN included, that YNNPACK does not implement, so the fusion stops there and ``x`` is
    computed by one loop (the block: 30-34 ms). ``jax.lax.optimization_barrier`` would say this more plainly,
    but XLA:CPU drops barriers before it fuses. The derivative is the identity's.
    """
    def clamp(x):
        return jax.lax.clamp(jnp.asarray(-jnp.inf, x.dtype), x, jnp.asarray(jnp.inf, x.dtype))

    return jax.lax.platform_dependent(x, cpu=clamp, default=lambda x: x)


@fusion_boundary.defjvp
def _fusion_boundary_jvp(primals, tangents):
    return fusion_boundary(primals[0]), tangents[0]


def materialize(x: jax.Array) -> jax.Array:
    """``x`` unchanged, computed once into its own buffer on CPU (elsewhere ``x`` itself).

    XLA:CPU fuses a producer into every consumer that can take it and recomputes it in each, whatever it costs.
    ConvNeXt's LayerNorm reads the depthwise convolution's output three times (mean, variance, normalisation);
    with YNNPACK's fusions off (:mod:`jaxquba.engine.compile_options`) all three loops recomputed the 49-tap sum,
    and a first-stage block at batch 32 took 144 ms instead of 115 ms. No elementwise form stops that (a clamp and a
    division by a runtime one were fused all the same; ``jax.lax.optimization_barrier`` is dropped before fusion),
    but a conditional's operand is a buffer that its branches read: ``x`` passes through the taken branch of a
    ``jax.lax.cond`` whose predicate, ``v == v or v != v`` for ``x``'s first element, holds for every value (NaN
    included) and which XLA cannot fold. The derivative is the identity's.
    """
    def through_conditional(x):
        if x.size == 0:
            return x
        probe = x.reshape(-1)[0]
        return jax.lax.cond((probe == probe) | (probe != probe), lambda x: x, jnp.zeros_like, x)

    return jax.lax.platform_dependent(x, cpu=through_conditional, default=lambda x: x)


def layer_norm(epsilon: float, dtype: Dtype, name: str | None = None) -> nn.LayerNorm:
    """LayerNorm over the last axis with two-pass variance (the fast E[x^2]-E[x]^2 form loses float32 accuracy)."""
    return nn.LayerNorm(epsilon=epsilon, dtype=dtype, param_dtype=jnp.float32, use_fast_variance=False, name=name)


class Dense(nn.Dense):
    """``flax.linen.Dense`` (same parameters, same arithmetic) whose bias is added after a :func:`fusion_boundary`.

    Without it XLA:CPU's YNNPACK fusion takes the bias add into the matrix product and feeds it the bias broadcast
    to the whole output, materialised: for ConvNeXt-T's first-stage ``fc1`` (8x56x56x384) that is 38 MB written
    and read again, 2.4 ms of the product's 10.6 ms.
    """

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (inputs.shape[-1], self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = jax.lax.dot_general(inputs, kernel, (((inputs.ndim - 1,), (0,)), ((), ())), precision=self.precision)
        return y if bias is None else fusion_boundary(y) + bias


def dense(features: int, dtype: Dtype, use_bias: bool = True, name: str | None = None) -> nn.Dense:
    return Dense(features, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32, name=name)


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
    dtype, the same precision PyTorch's fused attention keeps under autocast. The heads are moved in front of the
    tokens before the two products: written as one einsum per product, XLA:CPU fused both products and the
    softmax into one kernel that ran 2.5x slower (ViT-B/16's attention, batch 8: 33 ms against 13 ms).
    """
    scale = q.shape[-1] ** -0.5
    q, k, v = (jnp.swapaxes(a, 1, 2) for a in (q * jnp.asarray(scale, q.dtype), k, v))  # (batch, heads, tokens, d)
    logits = jnp.matmul(q, jnp.swapaxes(k, 2, 3), preferred_element_type=jnp.float32)
    if bias is not None:
        logits = logits + bias
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.swapaxes(jnp.matmul(weights, v), 1, 2)


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


def _shifted_slices_sum(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                        padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
    """The depthwise convolution as a float32 sum of kh*kw shifted, strided slices of the padded input.

    The padded input is computed once, behind a :func:`fusion_boundary`: fused into the slices' loop, the pad became
    a bounds test in each of the kh*kw reads (and took the input's own producer with it): a 7x7 layer at
    32x56x56x96 ran in 26 ms against 19 ms from the padded copy; whole models at batch 32: lite0 -3 to -7%,
    MobileNetV2 -6%, EfficientNet-B0 -8%, FastViT-SA12 -13%, CoaT-Lite-T -5%.
    """
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    if any(p for pair in padding for p in pair):
        x = fusion_boundary(jax.lax.pad(x, jnp.zeros((), x.dtype),
                                        ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0))))
    out_h, out_w = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    out = jnp.zeros((x.shape[0], out_h, out_w, x.shape[-1]), jnp.float32)
    for i in range(kh):
        for j in range(kw):
            window = x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
            out = out + (window * kernel[i, j, 0]).astype(jnp.float32)
    return out.astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise_by_shifted_slices(x, kernel, strides, padding):
    return _shifted_slices_sum(x, kernel, strides, padding)


def _depthwise_forward(x, kernel, strides, padding):
    return _shifted_slices_sum(x, kernel, strides, padding), (x, kernel)


def _depthwise_backward(strides, padding, residuals, g):
    """The input gradient is itself a depthwise convolution, of the stride-dilated cotangent with the flipped
    kernel, so it runs as shifted slices too. Left to autodiff, the transposed slices become pads that XLA fuses
    with a recomputation of the forward at every tap (lite0's input gradient spent 44% of its time there)."""
    x, kernel = residuals
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    out_h, out_w = g.shape[1:3]
    lo_h, lo_w = kh - 1 - padding[0][0], kw - 1 - padding[1][0]
    hi_h = x.shape[1] + kh - 1 - lo_h - ((out_h - 1) * sh + 1)
    hi_w = x.shape[2] + kw - 1 - lo_w - ((out_w - 1) * sw + 1)
    dilated = jax.lax.pad(g, jnp.zeros((), g.dtype),
                          ((0, 0, 0), (lo_h, hi_h, sh - 1), (lo_w, hi_w, sw - 1), (0, 0, 0)))
    grad_x = _shifted_slices_sum(dilated, kernel[::-1, ::-1], (1, 1), ((0, 0), (0, 0)))
    padded = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))
    g32 = g.astype(jnp.float32)
    grad_kernel = jnp.stack([
        jnp.stack([jnp.sum(padded[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
                           .astype(jnp.float32) * g32, axis=(0, 1, 2)) for j in range(kw)])
        for i in range(kh)])[:, :, None, :]
    return grad_x.astype(x.dtype), grad_kernel.astype(kernel.dtype)


_depthwise_by_shifted_slices.defvjp(_depthwise_forward, _depthwise_backward)


def depthwise_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                   padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
    """Depthwise 2-D convolution of NHWC ``x`` with an HWIO ``kernel`` of shape (kh, kw, 1, C), no bias.

    On CPU it is a sum of shifted slices, which XLA fuses into one loop: XLA:CPU lowers a grouped convolution with
    one channel per group to a slow generic loop (a 7x7 depthwise layer at 56x56x96, batch 8: 150 ms against 7 ms
    as slices and 2.7 ms in PyTorch's oneDNN), and the input gradient of an attack inherits it. Elsewhere it is
    the native grouped convolution (cuDNN and the TPU's convolution units handle it well). Both accumulate in
    float32 for float32 inputs; only the order of the kh*kw additions differs. The slices' sum ends in a
    :func:`fusion_boundary`, so that a matrix product downstream does not take it apart.
    """
    def native(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            feature_group_count=x.shape[-1])

    def slices(x, kernel):
        return fusion_boundary(_depthwise_by_shifted_slices(x, kernel, strides, padding))

    return jax.lax.platform_dependent(x, kernel, cpu=slices, default=native)


SMALL_PATCH = 32  # patch values (kh * kw * input channels) up to which a CPU convolution gathers its patches


def small_patch_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                     padding: tuple[tuple[int, int], tuple[int, int]], precision=None) -> jax.Array:
    """2-D convolution of NHWC ``x`` with an HWIO ``kernel`` whose patch is small (an RGB stem's 3x3x3).

    On CPU the kh*kw shifted, strided slices are gathered into one (N, H', W', kh*kw*C) array and multiplied with the
    kernel as a (kh*kw*C, F) matrix: XLA:CPU's convolution ran lite0's stem (3x3, stride 2, 3 -> 32 channels, batch
    8) in 8.0 ms and its input gradient in 19.4 ms, the gathered product in 3.5 and 9.9 ms. With larger patches the
    gathered array outgrows what it saves (ResNet's 7x7x3 stem: 55 ms against 21 ms), hence :data:`SMALL_PATCH`, and
    so it does without a stride (VGG's first layer, 3x3 at stride 1 on 224x224: forward 80 ms against 73 ms), hence
    :class:`Conv` routes only strided convolutions here. Elsewhere the native convolution. Both sum the same
    products, in another order.
    """
    def native(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            precision=precision)

    def gathered(x, kernel):
        (kh, kw, channels, features), (sh, sw) = kernel.shape, strides
        x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))
        out_h, out_w = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
        patches = jnp.concatenate([x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw]
                                   for i in range(kh) for j in range(kw)], axis=-1)
        return jnp.einsum("nhwp,pf->nhwf", patches, kernel.reshape(kh * kw * channels, features),
                          precision=precision)

    return jax.lax.platform_dependent(x, kernel, cpu=gathered, default=native)


class Conv(nn.Conv):
    """``flax.linen.Conv`` (same parameters, same layout) with three forms that XLA:CPU runs badly routed around:

    * a depthwise convolution (one group per input channel, as many outputs as inputs) runs through
      :func:`depthwise_conv`;
    * a 1x1 convolution without padding is a matrix product over channels (after striding the input): XLA:CPU's
      convolution path took 2-11x longer than its dot for lite0's and ResNet's pointwise layers (8x112x112x96 ->
      16: 29.6 ms against 2.7 ms), and PyTorch's oneDNN is no faster than the dot;
    * a strided convolution with a small patch (an RGB stem's 3x3x3) runs through :func:`small_patch_conv`.

    All three compute the same sums as the convolution, in another order. Dilated, masked or 'CIRCULAR' convolutions and
    other groupings take Flax's path.
    """

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        channels = inputs.shape[-1]
        kernel_size = (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        strides = (1, 1) if self.strides is None else (
            (self.strides,) * 2 if isinstance(self.strides, int) else tuple(self.strides))
        padding = self.padding
        if isinstance(padding, str):
            padding = tuple(same_padding(size, k, s) if padding == "SAME" else (0, 0)
                            for size, k, s in zip(inputs.shape[1:3], kernel_size, strides)) \
                if padding in ("SAME", "VALID") else None
        elif isinstance(padding, int):
            padding = ((padding, padding),) * 2
        else:
            padding = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
        plain = (padding is not None and len(kernel_size) == 2 and inputs.ndim == 4 and self.mask is None
                 and self.kernel_dilation in (None, 1, (1, 1)) and self.input_dilation in (None, 1, (1, 1)))
        depthwise = plain and self.feature_group_count == channels == self.features
        pointwise = plain and self.feature_group_count == 1 and kernel_size == (1, 1) and padding == ((0, 0),) * 2
        small_patch = (plain and kernel_size != (1, 1) and strides != (1, 1) and self.feature_group_count == 1
                       and kernel_size[0] * kernel_size[1] * channels <= SMALL_PATCH)
        if not (depthwise or pointwise or small_patch):
            return super().__call__(inputs)
        dtype = inputs.dtype if self.dtype is None else self.dtype
        x = inputs.astype(dtype)
        if depthwise:
            kernel = self.param("kernel", self.kernel_init, (*kernel_size, 1, channels), self.param_dtype)
            y = depthwise_conv(x, kernel.astype(dtype), strides, padding)
        elif small_patch:
            kernel = self.param("kernel", self.kernel_init, (*kernel_size, channels, self.features), self.param_dtype)
            y = small_patch_conv(x, kernel.astype(dtype), strides, padding, self.precision)
        else:
            kernel = self.param("kernel", self.kernel_init, (1, 1, channels, self.features), self.param_dtype)
            y = jnp.einsum("nhwc,cf->nhwf", x[:, ::strides[0], ::strides[1]], kernel[0, 0].astype(dtype),
                           precision=self.precision)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            y = y + bias.astype(dtype)
        return y


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's (and XLA's) 'SAME' padding of one axis: the extra pixel of an odd total goes to the end."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv(features: int, kernel: int, stride: int = 1, padding: int | str = 0, groups: int = 1, use_bias: bool = True,
         dtype: Dtype = jnp.float32, name: str | None = None) -> nn.Conv:
    """A 2-D NHWC convolution (:class:`Conv`) with PyTorch's symmetric integer padding (or a Flax padding string)."""
    pad = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    return Conv(features, (kernel, kernel), strides=(stride, stride), padding=pad, feature_group_count=groups,
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
