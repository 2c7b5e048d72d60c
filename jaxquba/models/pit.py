"""PiT, Pooling-based Vision Transformer (Heo et al. 2021), as timm's ``pit`` builds it.

An overlapping convolutional patch embedding (kernel ``patch_size``, stride ``stride``) with a learnt 2-D position
embedding, then three ViT stages; between stages the patch tokens, back in their 2-D grid, are downsampled by a
depthwise-grouped 3x3 stride-2 convolution that doubles the width, and the class token by a Linear to the same width.
Blocks are timm's ViT blocks (:class:`jaxquba.models.vit.Block`). Final LayerNorm on the class token, Linear head.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.vit import LN_EPS, Block


class PoolingVisionTransformer(nn.Module):
    """Normalised NHWC images (img_size x img_size) -> logits."""

    patch_size: int
    stride: int
    base_dims: tuple[int, ...]
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    img_size: int = 224
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this PiT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        b = images.shape[0]
        dim = self.base_dims[0] * self.heads[0]
        x = layers.conv(dim, self.patch_size, self.stride, dtype=self.dtype, name="patch_embed")(
            images.astype(self.dtype))
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1,) + x.shape[1:], jnp.float32)
        x = x + pos_embed.astype(self.dtype)
        cls = self.param("cls_token", nn.initializers.zeros, (1, 1, dim), jnp.float32)
        cls = jnp.broadcast_to(cls, (b, 1, dim)).astype(self.dtype)
        for stage, (base_dim, depth, heads) in enumerate(zip(self.base_dims, self.depths, self.heads)):
            width = base_dim * heads
            if stage > 0:
                x = layers.conv(width, 3, 2, padding=1, groups=x.shape[-1], dtype=self.dtype,
                                name=f"transformers_{stage}_pool_conv")(x)
                cls = layers.dense(width, self.dtype, name=f"transformers_{stage}_pool_fc")(cls)
            _, h, w, _ = x.shape
            tokens = jnp.concatenate([cls, x.reshape(b, h * w, width)], axis=1)
            for i in range(depth):
                tokens = Block(heads, 4.0, True, False, LN_EPS, self.dtype,
                               name=f"transformers_{stage}_blocks_{i}")(tokens)
            cls, x = tokens[:, :1], tokens[:, 1:].reshape(b, h, w, width)
        cls = layers.layer_norm(LN_EPS, self.dtype, name="norm")(cls[:, 0])
        return layers.dense(self.num_classes, self.dtype, name="head")(cls)


def build(dtype=jnp.float32, **config) -> PoolingVisionTransformer:
    return PoolingVisionTransformer(dtype=dtype, **config)


register_family("pit", build, converter="converters.pit:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_DATA = zoo.DataConfig(224, 0.9, "bicubic")

for _arch, _patch, _stride, _base, _depths, _stage_heads, _num_params, _alias in (  # timm's parameter counts
        ("pit_ti_224", 16, 8, (32, 32, 32), (2, 6, 4), (2, 4, 8), 4_847_272, "pit_t"),
        ("pit_xs_224", 16, 8, (48, 48, 48), (2, 6, 4), (2, 4, 8), 10_618_888, "pit_xs"),
        ("pit_s_224", 16, 8, (48, 48, 48), (2, 6, 4), (3, 6, 12), 23_461_912, "pit_s"),
        ("pit_b_224", 14, 7, (64, 64, 64), (3, 6, 4), (4, 8, 16), 73_764_840, "pit_b")):
    zoo.register(zoo.ModelSpec(
        name=f"{_arch}.in1k", family="pit",
        config=zoo.config(patch_size=_patch, stride=_stride, base_dims=_base, depths=_depths, heads=_stage_heads),
        data=_DATA, num_params=_num_params, aliases=(_alias,), hf_hub_id=f"timm/{_arch}.in1k"))
