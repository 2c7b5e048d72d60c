"""MaxViT (Tu et al. 2022) as timm's ``maxxvit`` builds the TensorFlow-ported ``maxvit_*_tf`` models.

Stem: 3x3/2 conv, BatchNorm + GELU, 3x3 conv. Four stages of MaxViT blocks; the first block of each stage halves the
resolution. A block is an MBConv (pre-norm BatchNorm; 1x1 expansion to 4x the output width, BatchNorm + GELU; 3x3
depthwise conv (stride 2 in a stage's first block), BatchNorm + GELU; squeeze-excitation (SiLU, 1/4 of the output
width); 1x1 projection; residual through 2x2 average pooling + 1x1 conv where the shape changes), then a
window-attention and a grid-attention transformer block over 7x7 partitions (pre-norm LayerNorm eps 1e-5; heads of
32 channels in timm's q/k/v layout; TF relative position bias: a (heads, 13, 13) table indexed by key minus query
offsets; MLP 4x with GELU). Head: global average pool, LayerNorm, Linear + tanh (pre-logits), Linear.

TensorFlow details kept: 'SAME' padding (a stride-2 3x3 conv on an even size pads one row and column at the end
only), BatchNorm eps 1e-3, and GELU's tanh approximation everywhere.

``torchvision=True`` is torchvision's own MaxViT (``maxvit_t``, the published MaxViT-t row), the same design with
other numerics: symmetric padding, exact GELU, a 3x3/2 average pool (zero padding counted) and a 1x1 conv on every
strided shortcut, no bias in the stem's first conv nor in the classifier. It also scales attention logits by the
block width^-0.5 instead of the head width^-0.5; the converter folds that factor into the query weights.
"""

from __future__ import annotations


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-3
LN_EPS = 1e-5
HEAD_DIM = 32
PARTITION = 7  # window and grid size at 224 px (timm: image size / 32)


def gelu_tanh(x: jax.Array) -> jax.Array:
    return nn.gelu(x, approximate=True)


def conv_same(x: jax.Array, features: int, kernel: int, stride: int, dtype, name: str, groups: int = 1,
              use_bias: bool = True, tf: bool = True) -> jax.Array:
    """A conv with TensorFlow 'SAME' padding (``tf``) or PyTorch's symmetric ``kernel // 2``."""
    pad = tuple(layers.same_padding(s, kernel, stride) if tf else (kernel // 2, kernel // 2) for s in x.shape[1:3])
    return layers.Conv(features, (kernel, kernel), strides=(stride, stride), padding=pad, feature_group_count=groups,
                       use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32, name=name)(x)


def relative_position_lookup(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) indices into the (2 size - 1)^2 bias table for every (query, key) pair of a size x size window:
    timm's ``RelPosBiasTf`` one-hot lookups, ``table[key_row - query_row + size - 1, key_col - query_col + size - 1]``."""
    coords = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij")).reshape(2, -1)
    offsets = coords[:, None, :] - coords[:, :, None] + size - 1  # [axis, query, key]
    return offsets[0], offsets[1]


def _gelu(x: jax.Array, torchvision: bool) -> jax.Array:
    return layers.gelu(x) if torchvision else gelu_tanh(x)


class MBConv(nn.Module):
    out_features: int
    stride: int
    torchvision: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        in_features, mid, tv = x.shape[-1], 4 * self.out_features, self.torchvision
        shortcut = x
        if self.stride == 2:
            b, h, w, c = x.shape
            if tv:  # AvgPool2d(3, 2, padding=1), the zero padding counted in every average
                shortcut = nn.avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), count_include_pad=True)
            else:  # 2x2 average pool, even sizes
                shortcut = x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        if (self.stride == 2 and tv) or in_features != self.out_features:
            shortcut = layers.conv(self.out_features, 1, dtype=self.dtype, name="shortcut")(shortcut)
        x = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="pre_norm")(x)
        x = layers.conv(mid, 1, use_bias=False, dtype=self.dtype, name="conv1")(x)
        x = _gelu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="norm1")(x), tv)
        x = conv_same(x, mid, 3, self.stride, self.dtype, "conv2", groups=mid, use_bias=False, tf=not tv)
        x = _gelu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="norm2")(x), tv)
        se = x.mean(axis=(1, 2), keepdims=True, dtype=jnp.float32).astype(self.dtype)
        se = nn.silu(layers.conv(self.out_features // 4, 1, dtype=self.dtype, name="se_fc1")(se))
        x = x * nn.sigmoid(layers.conv(mid, 1, dtype=self.dtype, name="se_fc2")(se))
        return shortcut + layers.conv(self.out_features, 1, dtype=self.dtype, name="conv3")(x)


class PartitionAttention(nn.Module):
    """Pre-norm attention within 7x7 windows ('block') or over a 7x7 grid of strided positions ('grid'), then MLP."""

    grid: bool
    torchvision: bool
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        p, heads = PARTITION, c // HEAD_DIM
        table = self.param("relative_position_bias_table", nn.initializers.zeros, (heads, 2 * p - 1, 2 * p - 1),
                           jnp.float32)
        rows, cols = relative_position_lookup(p)
        bias = table[:, rows, cols][None]  # (1, heads, query, key)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        if self.grid:  # token (i, j) of partition (a, b) is position (i * h/p + a, j * w/p + b)
            y = y.reshape(b, p, h // p, p, w // p, c).transpose(0, 2, 4, 1, 3, 5)
        else:  # token (i, j) of window (a, b) is position (a * p + i, b * p + j)
            y = y.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
        y = layers.SelfAttention(heads, True, self.dtype, name="attn")(y.reshape(-1, p * p, c), bias)
        y = y.reshape(b, h // p, w // p, p, p, c)
        y = y.transpose(0, 3, 1, 4, 2, 5) if self.grid else y.transpose(0, 1, 3, 2, 4, 5)
        x = x + y.reshape(b, h, w, c)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x)
        y = _gelu(layers.dense(4 * c, self.dtype, name="fc1")(y), self.torchvision)
        return x + layers.dense(c, self.dtype, name="fc2")(y)


class MaxViT(nn.Module):
    """Normalised NHWC images (224 x 224) -> logits."""

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    stem_width: int
    torchvision: bool = False
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        tv = self.torchvision
        x = conv_same(images.astype(self.dtype), self.stem_width, 3, 2, self.dtype, "stem_conv1", use_bias=not tv,
                      tf=not tv)
        x = _gelu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="stem_norm1")(x), tv)
        x = conv_same(x, self.stem_width, 3, 1, self.dtype, "stem_conv2", tf=not tv)
        for s, (dim, depth) in enumerate(zip(self.embed_dims, self.depths)):
            for i in range(depth):
                x = MBConv(dim, 2 if i == 0 else 1, tv, self.dtype, name=f"stages_{s}_{i}_conv")(x)
                x = PartitionAttention(False, tv, self.dtype, name=f"stages_{s}_{i}_attn_block")(x)
                x = PartitionAttention(True, tv, self.dtype, name=f"stages_{s}_{i}_attn_grid")(x)
        x = x.mean(axis=(1, 2), dtype=jnp.float32).astype(self.dtype)
        x = layers.layer_norm(LN_EPS, self.dtype, name="head_norm")(x)
        x = jnp.tanh(layers.dense(self.embed_dims[-1], self.dtype, name="head_pre_logits")(x))
        return layers.dense(self.num_classes, self.dtype, use_bias=not tv, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> MaxViT:
    return MaxViT(dtype=dtype, **config)


register_family("maxvit", build, converter="converters.maxvit:convert")
register_family("maxvit_tv", build, converter="converters.maxvit:convert_torchvision")


# --- registry --------------------------------------------------------------------------------------------------------

for _size, _dims, _depths, _stem, _num_params in (  # timm's parameter counts
        ("base", (96, 192, 384, 768), (2, 6, 14, 2), 64, 119_467_708),
        ("large", (128, 256, 512, 1024), (2, 6, 14, 2), 128, 211_785_560)):
    zoo.register(zoo.ModelSpec(
        name=f"maxvit_{_size}_tf_224.in1k", family="maxvit",
        config=zoo.config(embed_dims=_dims, depths=_depths, stem_width=_stem),
        data=zoo.DataConfig(224, 0.95, "bicubic"), num_params=_num_params, aliases=(f"maxvit_{_size[0]}",),
        hf_hub_id=f"timm/maxvit_{_size}_tf_224.in1k"))

# torchvision's MaxViT-T IMAGENET1K_V1 (the published MaxViT-t row): Resize 224 bicubic, crop 224.
zoo.register(zoo.ModelSpec(
    name="tv_maxvit_t.imagenet1k_v1", family="maxvit_tv",
    config=zoo.config(embed_dims=(64, 128, 256, 512), depths=(2, 2, 5, 2), stem_width=64, torchvision=True),
    data=zoo.DataConfig(224, 1.0, "bicubic"), num_params=30_919_624,
    url="https://download.pytorch.org/models/maxvit_t-bc5ab103.pth"))
