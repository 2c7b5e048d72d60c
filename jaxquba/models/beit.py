"""BEiT and BEiT v2 (Bao et al. 2022; Peng et al. 2022) as timm's ``beit`` builds their fine-tuned classifiers.

A pre-norm ViT (LayerNorm eps 1e-6, class token, no absolute position embedding) whose every block has its own
learnt relative position bias: a ((2G-1)^2 + 3, heads) table indexed by the relative offset of two patches, plus
three entries for class-to-patch, patch-to-class and class-to-class. q and v have biases, k has none; both residual
branches are layer-scaled (``gamma_1``/``gamma_2``). The head reads the mean of the patch tokens after a LayerNorm
(``fc_norm``). BEiT and BEiT v2 share the architecture; they differ in pre-training (DALL-E vs VQ-KD tokens) and in
normalisation (BEiT's weights expect inputs scaled to [-1, 1], v2's the ImageNet mean/std).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.swin import relative_position_index as window_relative_index

LN_EPS = 1e-6


def relative_position_index(grid: int) -> np.ndarray:
    """(G^2 + 1, G^2 + 1) indices into the bias table, token 0 being the class token (timm's layout)."""
    num_distances = (2 * grid - 1) ** 2
    index = np.zeros((grid * grid + 1,) * 2, np.int64)
    index[1:, 1:] = window_relative_index(grid)
    index[0, :] = num_distances  # class token -> patches
    index[:, 0] = num_distances + 1  # patches -> class token
    index[0, 0] = num_distances + 2
    return index


class Block(nn.Module):
    num_heads: int
    grid: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        table = self.param("relative_position_bias_table", nn.initializers.zeros,
                           ((2 * self.grid - 1) ** 2 + 3, self.num_heads), jnp.float32)
        bias = table[relative_position_index(self.grid).reshape(-1)].reshape(n, n, -1).transpose(2, 0, 1)
        y = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        q_bias = self.param("q_bias", nn.initializers.zeros, (c,), jnp.float32)
        v_bias = self.param("v_bias", nn.initializers.zeros, (c,), jnp.float32)
        qkv = layers.dense(3 * c, self.dtype, use_bias=False, name="qkv")(y)
        qkv = qkv + jnp.concatenate([q_bias, jnp.zeros_like(q_bias), v_bias]).astype(self.dtype)
        q, k, v = (t.reshape(b, n, self.num_heads, c // self.num_heads) for t in jnp.split(qkv, 3, axis=-1))
        y = layers.dense(c, self.dtype, name="proj")(layers.dot_product_attention(q, k, v, bias).reshape(b, n, c))
        gamma_1 = self.param("gamma_1", nn.initializers.ones, (c,), jnp.float32)
        gamma_2 = self.param("gamma_2", nn.initializers.ones, (c,), jnp.float32)
        x = x + y * gamma_1.astype(self.dtype)
        y = layers.Mlp(4 * c, self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))
        return x + y * gamma_2.astype(self.dtype)


class Beit(nn.Module):
    """Normalised NHWC images (img_size x img_size) -> logits."""

    embed_dim: int
    depth: int
    num_heads: int
    img_size: int = 224
    patch_size: int = 16
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this BEiT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        x = layers.conv(self.embed_dim, self.patch_size, self.patch_size, padding="VALID", dtype=self.dtype,
                        name="patch_embed")(images.astype(self.dtype))
        grid = x.shape[1]
        cls = self.param("cls_token", nn.initializers.zeros, (1, 1, self.embed_dim), jnp.float32)
        x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.embed_dim)).astype(self.dtype),
                             x.reshape(b, grid * grid, self.embed_dim)], axis=1)
        for i in range(self.depth):
            x = Block(self.num_heads, grid, self.dtype, name=f"blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="fc_norm")(x[:, 1:].mean(axis=1))
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def build(dtype=jnp.float32, **config) -> Beit:
    return Beit(dtype=dtype, **config)


register_family("beit", build, converter="converters.beit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_BASE = zoo.config(embed_dim=768, depth=12, num_heads=12)
# timm's default tag of each arch first; published rows: BeiT-b = the BEiT in22k model, BeiTV2-b = in1k_ft_in1k.
for _name, _data, _alias in (
        ("beit_base_patch16_224.in22k_ft_in22k_in1k",
         zoo.DataConfig(224, 0.9, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD), "beit_b"),
        ("beitv2_base_patch16_224.in1k_ft_in22k_in1k", zoo.DataConfig(224, 0.9, "bicubic"), "beitv2_b_in22k"),
        ("beitv2_base_patch16_224.in1k_ft_in1k", zoo.DataConfig(224, 0.9, "bicubic"), "beitv2_b")):
    zoo.register(zoo.ModelSpec(name=_name, family="beit", config=_BASE, data=_data, num_params=86_530_984,
                               aliases=(_alias,), hf_hub_id=f"timm/{_name}"))
