"""FastViT (Vasu et al. 2023) as timm's ``fastvit`` builds it, in its inference-time (reparameterised) layout.

FastViT is trained with multi-branch blocks that are linear up to their activation, so each collapses into one
convolution after training (structural reparameterisation, RepVGG / MobileOne). The published timm checkpoints
store the training-time branches; ``converters/fastvit.py`` fuses them into the single convolutions this module
runs (what timm's ``reparameterize_model`` and Apple's release do before inference). The two layouts compute the
same function up to float32 rounding of the fused kernels (the parity test bounds the difference, logits within
1e-4 of their range, against timm's unfused forward); the fused network does fewer convolutions and memory passes.
The published parameter counts are of the training-time layout (timm's count of its default, unfused model), so a
spec's ``num_params`` is that count and :data:`FUSED_AWAY` says how many fewer parameters this module holds.

The network (NHWC here; timm is NCHW):

* stem: three MobileOne blocks (3x3 stride-2 conv, 3x3 stride-2 depthwise conv, 1x1 conv), each a fused conv with
  bias followed by GELU;
* four stages, the first without downsampling, the others opened by a patch embedding: a large-kernel (7x7)
  stride-2 conv with one input channel per group (fused with its 3x3 branch; MobileCLIP's variants add a squeeze-
  excite and GELU there), then a 1x1 MobileOne block with GELU;
* a conditional positional encoding before the attention stage: a 7x7 depthwise conv plus the input, fused into
  one conv (``RepCPE``);
* RepMixer blocks ``x -> mix(x)`` (``x + gamma * (mixer(x) - norm(x))`` fused into one 3x3 depthwise conv), then
  ``x + gamma * mlp(x)``; attention blocks ``x + gamma1 * attn(bn(x))``, then ``x + gamma2 * mlp(x)`` (multi-head
  attention over all positions, heads of width 32, no qkv bias). The MLP is a 7x7 depthwise conv + batch norm,
  1x1 conv, GELU, 1x1 conv;
* ``final_conv``: a 3x3 MobileOne block doubling the width (two outputs per input channel), squeeze-excite, GELU;
  then global average pooling and the linear classifier.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

HEAD_DIM = 32


class FusedConv(nn.Module):
    """One reparameterised branch set: a conv with bias (``reparam_conv``), optional squeeze-excite, optional GELU.

    ``in_per_group`` is the number of input channels per group (timm's ``group_size``; 0 = an ordinary conv)."""

    features: int
    kernel: int
    stride: int = 1
    in_per_group: int = 0
    se_ratio: float = 0.0  # squeeze-excite reduction ratio (0: none)
    se_divisor: int = 8
    act: bool = True
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        groups = x.shape[-1] // self.in_per_group if self.in_per_group else 1
        x = layers.conv(self.features, self.kernel, self.stride, self.kernel // 2, groups, dtype=self.dtype,
                        name="reparam_conv")(x)
        if self.se_ratio:
            x = SqueezeExcite(self.se_ratio, self.se_divisor, self.dtype, name="se")(x)
        return layers.gelu(x) if self.act else x


def make_divisible(value: float, divisor: int) -> int:
    """timm's ``make_divisible`` with ``round_limit=0``: the nearest multiple of ``divisor``, at least ``divisor``."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """timm ``SEModule``: mean over positions -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid gate on the input."""

    ratio: float
    divisor: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        s = x.astype(jnp.float32).mean(axis=(1, 2), keepdims=True).astype(self.dtype)
        s = nn.relu(layers.conv(make_divisible(c * self.ratio, self.divisor), 1, dtype=self.dtype, name="fc1")(s))
        s = layers.conv(c, 1, dtype=self.dtype, name="fc2")(s)
        return x * jax.nn.sigmoid(s)


class ConvMlp(nn.Module):
    """7x7 depthwise conv + batch norm, 1x1 conv, GELU, 1x1 conv."""

    hidden: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        x = layers.conv(c, 7, 1, 3, c, use_bias=False, dtype=self.dtype, name="conv")(x)
        x = layers.FrozenBatchNorm(dtype=self.dtype, name="bn")(x)
        x = layers.gelu(layers.conv(self.hidden, 1, dtype=self.dtype, name="fc1")(x))
        return layers.conv(c, 1, dtype=self.dtype, name="fc2")(x)


def layer_scale(module: nn.Module, name: str, x: jax.Array) -> jax.Array:
    gamma = module.param(name, nn.initializers.ones, (x.shape[-1],), jnp.float32)
    return x * gamma.astype(x.dtype)


class RepMixerBlock(nn.Module):
    mlp_hidden: int
    kernel: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        x = FusedConv(c, self.kernel, in_per_group=1, act=False, dtype=self.dtype, name="token_mixer")(x)
        return x + layer_scale(self, "layer_scale", ConvMlp(self.mlp_hidden, self.dtype, name="mlp")(x))


class AttentionBlock(nn.Module):
    mlp_hidden: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = layers.FrozenBatchNorm(dtype=self.dtype, name="norm")(x).reshape(b, h * w, c)
        y = layers.SelfAttention(c // HEAD_DIM, qkv_bias=False, dtype=self.dtype, name="token_mixer")(y)
        x = x + layer_scale(self, "layer_scale_1", y.reshape(b, h, w, c))
        return x + layer_scale(self, "layer_scale_2", ConvMlp(self.mlp_hidden, self.dtype, name="mlp")(x))


class FastVit(nn.Module):
    """Normalised NHWC images -> logits (for MobileCLIP's image towers: the head is the image projection)."""

    layers: tuple[int, ...]
    embed_dims: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    token_mixers: tuple[str, ...]  # per stage: "repmixer" or "attention"
    pos_embs: tuple[bool, ...]  # per stage: a conditional positional encoding after the downsampling
    se_downsamples: tuple[bool, ...] = (False, False, False, False)
    lkc_use_act: bool = False  # GELU after the large-kernel conv of the patch embeddings (MobileCLIP's variants)
    repmixer_kernel_size: int = 3
    down_patch_size: int = 7
    cls_ratio: float = 2.0
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        dim = self.embed_dims[0]
        x = FusedConv(dim, 3, 2, dtype=self.dtype, name="stem_0")(x)
        x = FusedConv(dim, 3, 2, in_per_group=1, dtype=self.dtype, name="stem_1")(x)
        x = FusedConv(dim, 1, dtype=self.dtype, name="stem_2")(x)
        for i, depth in enumerate(self.layers):
            dim_out = self.embed_dims[i]
            if i > 0:
                x = FusedConv(dim_out, self.down_patch_size, 2, in_per_group=1,
                              se_ratio=0.25 if self.se_downsamples[i] else 0.0, act=self.lkc_use_act,
                              dtype=self.dtype, name=f"stages_{i}_downsample_0")(x)
                x = FusedConv(dim_out, 1, dtype=self.dtype, name=f"stages_{i}_downsample_1")(x)
            if self.pos_embs[i]:
                x = FusedConv(dim_out, 7, in_per_group=1, act=False, dtype=self.dtype, name=f"stages_{i}_pos_emb")(x)
            hidden = int(dim_out * self.mlp_ratios[i])
            for j in range(depth):
                name = f"stages_{i}_blocks_{j}"
                if self.token_mixers[i] == "repmixer":
                    x = RepMixerBlock(hidden, self.repmixer_kernel_size, self.dtype, name=name)(x)
                elif self.token_mixers[i] == "attention":
                    x = AttentionBlock(hidden, self.dtype, name=name)(x)
                else:
                    raise ValueError(f"unknown token mixer {self.token_mixers[i]!r}")
        x = FusedConv(int(self.embed_dims[-1] * self.cls_ratio), 3, in_per_group=1, se_ratio=1 / 16, se_divisor=1,
                      dtype=self.dtype, name="final_conv")(x)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(self.dtype)
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> FastVit:
    return FastVit(dtype=dtype, **config)


register_family("fastvit", build, converter="converters.fastvit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

def sa_config(depths: tuple[int, ...]) -> tuple:
    """timm's ``fastvit_sa*``: RepMixer stages, then an attention stage with a conditional positional encoding."""
    return zoo.config(layers=depths, embed_dims=(64, 128, 256, 512), mlp_ratios=(4, 4, 4, 4),
                      token_mixers=("repmixer", "repmixer", "repmixer", "attention"),
                      pos_embs=(False, False, False, True))


def mci_config(depths: tuple[int, ...], dims: tuple[int, ...]) -> tuple:
    """timm's ``fastvit_mci*`` (MobileCLIP's image towers MCi0-2): MLP ratio 3, squeeze-excite and GELU in the last
    two patch embeddings. The classifier of such a tower is MobileCLIP's image projection."""
    return zoo.config(layers=depths, embed_dims=dims, mlp_ratios=(3, 3, 3, 3),
                      token_mixers=("repmixer", "repmixer", "repmixer", "attention"),
                      pos_embs=(False, False, False, True), se_downsamples=(False, False, True, True),
                      lkc_use_act=True)


# Parameters of the training-time branches that fusing removes (timm's default model minus its reparameterised
# copy), per registered architecture: ``num_params`` (the published count) minus this is the module's own count.
FUSED_AWAY = {"fastvit_sa12": 35_648, "fastvit_sa24": 52_928, "fastvit_sa36": 70_208}

_DATA = zoo.DataConfig(256, 0.9, "bicubic")  # timm's pretrained cfg of the apple_in1k tags

for _arch, _depths, _num_params, _published in (  # timm's parameter counts of the default (training-time) model
        ("fastvit_sa12", (2, 2, 6, 2), 11_580_968, "FastViT-sa12"),
        ("fastvit_sa24", (4, 4, 12, 4), 21_554_216, "FastViT-sa24"),
        ("fastvit_sa36", (6, 6, 18, 6), 31_527_464, "FastViT-sa36")):
    zoo.register(zoo.ModelSpec(
        name=f"{_arch}.apple_in1k", family="fastvit", config=sa_config(_depths), data=_DATA,
        num_params=_num_params, aliases=(_arch,), hf_hub_id=f"timm/{_arch}.apple_in1k"))
