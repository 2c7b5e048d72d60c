"""CrossViT (Chen et al. 2021), the "dagger" variants with convolutional patch embeddings, as timm's ``crossvit``.

Two ViT branches see the same image: a small-patch branch (12 px patches of the 240 px input) and a large-patch
branch (16 px patches of the input resized to 224 px with PyTorch's bicubic interpolation, ``align_corners=False``,
no antialiasing: reproduced here by its exact interpolation matrix). Each multi-scale block runs the branches' ViT
blocks, then fuses them: each branch's class token is projected (LayerNorm, GELU, Linear) to the other branch's
width, attends as the only query over the other branch's patch tokens (cross-attention, pre-norm residual), and is
projected back. Final LayerNorm per branch; the logits are the mean of the two branches' heads on their class tokens.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.cait import ClassAttention
from jaxquba.models.vit import LN_EPS, Block

LN_EPS = 1e-6
CUBIC_A = -0.75  # PyTorch's bicubic coefficient


def torch_bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of ``F.interpolate(mode='bicubic', align_corners=False)`` along one axis."""
    def cubic(t):
        t = np.abs(t)
        return np.where(t <= 1, ((CUBIC_A + 2) * t - (CUBIC_A + 3)) * t * t + 1,
                        np.where(t < 2, ((CUBIC_A * t - 5 * CUBIC_A) * t + 8 * CUBIC_A) * t - 4 * CUBIC_A, 0.0))

    # Source coordinates and weights in float32, as PyTorch computes them (float64 would differ by ~1e-5).
    matrix = np.zeros((size_out, size_in), np.float32)
    scale = np.float32(size_in / size_out)
    for i in range(size_out):
        src = (np.float32(i) + np.float32(0.5)) * scale - np.float32(0.5)
        base = int(np.floor(src))
        t = np.float32(src - np.float32(base))
        for tap in range(-1, 3):
            matrix[i, min(max(base + tap, 0), size_in - 1)] += cubic(np.float32(t - np.float32(tap))).astype(np.float32)
    return matrix


def conv_patch_embed(x: jax.Array, dim: int, patch: int, dtype: layers.Dtype, name: str) -> jax.Array:
    """timm's multi-conv patch embedding: 7x7/4 conv, ReLU, 3x3 conv (stride 3 for 12 px patches, 2 for 16),
    ReLU, 3x3 conv (stride 1 for 12, 2 for 16)."""
    strides = (3, 1) if patch == 12 else (2, 2)
    x = nn.relu(layers.conv(dim // 4, 7, 4, 3, dtype=dtype, name=f"{name}_proj_0")(x))
    x = nn.relu(layers.conv(dim // 2, 3, strides[0], 0 if patch == 12 else 1, dtype=dtype, name=f"{name}_proj_2")(x))
    x = layers.conv(dim, 3, strides[1], 1, dtype=dtype, name=f"{name}_proj_4")(x)
    return x.reshape(x.shape[0], -1, dim)


class Projection(nn.Module):
    """LayerNorm -> GELU -> Linear (timm's ``projs``/``revert_projs`` sequences, keys .0 and .2)."""

    features: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = layers.gelu(layers.layer_norm(LN_EPS, self.dtype, name="norm")(x))
        return layers.dense(self.features, self.dtype, name="fc")(x)


class MultiScaleBlock(nn.Module):
    dims: tuple[int, int]
    depths: tuple[int, int]
    num_heads: tuple[int, int]
    mlp_ratio: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, xs: list[jax.Array]) -> list[jax.Array]:
        outs = []
        for b, x in enumerate(xs):
            for i in range(self.depths[b]):
                x = Block(self.num_heads[b], self.mlp_ratio, True, False, LN_EPS, self.dtype,
                          name=f"blocks_{b}_{i}")(x)
            outs.append(x)
        fused = []
        for b in range(2):
            other = 1 - b
            cls = Projection(self.dims[other], self.dtype, name=f"projs_{b}")(outs[b][:, :1])
            tokens = jnp.concatenate([cls, outs[other][:, 1:]], axis=1)
            normed = layers.layer_norm(LN_EPS, self.dtype, name=f"fusion_{b}_norm1")(tokens)
            cls = cls + ClassAttention(self.num_heads[other], self.dtype, name=f"fusion_{b}_attn")(normed)
            cls = Projection(self.dims[b], self.dtype, name=f"revert_projs_{b}")(cls)
            fused.append(jnp.concatenate([cls, outs[b][:, 1:]], axis=1))
        return fused


class CrossVit(nn.Module):
    """Normalised NHWC images (240 x 240) -> logits."""

    embed_dims: tuple[int, int]
    depths: tuple[int, int]
    num_heads: tuple[int, int]
    num_blocks: int = 3
    img_size: int = 240
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this CrossViT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        small = int(self.img_size * 224 / 240)
        resize = torch_bicubic_matrix(self.img_size, small)
        inputs = (images.astype(self.dtype),
                  jnp.einsum("oh,bhwc,pw->bopc", resize, images.astype(jnp.float32), resize).astype(self.dtype))
        xs = []
        for i, (x, patch, dim) in enumerate(zip(inputs, (12, 16), self.embed_dims)):
            x = conv_patch_embed(x, dim, patch, self.dtype, f"patch_embed_{i}")
            cls = self.param(f"cls_token_{i}", nn.initializers.zeros, (1, 1, dim), jnp.float32)
            pos = self.param(f"pos_embed_{i}", nn.initializers.zeros, (1, x.shape[1] + 1, dim), jnp.float32)
            x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, dim)).astype(self.dtype), x], axis=1)
            xs.append(x + pos.astype(self.dtype))
        for i in range(self.num_blocks):
            xs = MultiScaleBlock(self.embed_dims, self.depths, self.num_heads, 3.0, self.dtype, name=f"blocks_{i}")(xs)
        logits = [layers.dense(self.num_classes, self.dtype, name=f"head_{i}")(
            layers.layer_norm(LN_EPS, self.dtype, name=f"norm_{i}")(x[:, 0])) for i, x in enumerate(xs)]
        return (logits[0] + logits[1]) / 2


def build(dtype=jnp.float32, **config) -> CrossVit:
    return CrossVit(dtype=dtype, **config)


register_family("crossvit", build, converter="converters.crossvit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(240, 0.875, "bicubic")

for _size, _dims, _depths, _heads, _num_params in (  # timm's parameter counts; depth per block: (1, n) ViT blocks
        ("9", (128, 256), (1, 3), (4, 4), 8_776_592),
        ("15", (192, 384), (1, 5), (6, 6), 28_209_008),
        ("18", (224, 448), (1, 6), (7, 7), 44_266_976)):
    _name = f"crossvit_{_size}_dagger_240.in1k"
    zoo.register(zoo.ModelSpec(name=_name, family="crossvit",
                               config=zoo.config(embed_dims=_dims, depths=_depths, num_heads=_heads), data=_DATA,
                               num_params=_num_params, aliases=(f"crossvit_{_size}_dagger",),
                               hf_hub_id=f"timm/{_name}"))
