"""Swin Transformer V2 (Liu et al. 2022) as timm's ``swin_transformer_v2`` builds it.

What changes from Swin v1 (:mod:`jaxquba.models.swin`, whose window partition and shift mask are reused):
  * residual post-norm: ``x + norm1(attn(x))``, ``x + norm2(mlp(x))``; patch merging reduces *then* normalises;
  * scaled cosine attention: logits are cosine similarities of q and k times a learnt per-head scale
    ``exp(min(logit_scale, log 100))``;
  * continuous position bias: a 2-layer MLP (``cpb_mlp``, 2 -> 512 -> heads, ReLU) maps log-spaced relative
    coordinates ``sign(d) log2(1 + 8|d| / (W' - 1)) / 3`` to a bias, squashed to ``16 * sigmoid``. ``W'`` is the
    pre-training window where the weights were fine-tuned to a larger window (``pretrained_window_sizes``, the
    ``12to16`` models), else the window itself;
  * the qkv projection has q and v biases only (k's is zero).
A stage whose feature map is no larger than the window uses one window the size of the map, without shift.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family
from jaxquba.models.swin import relative_position_index, shifted_window_mask, window_partition, window_reverse

LN_EPS = 1e-5
MAX_LOGIT_SCALE = math.log(1.0 / 0.01)


def relative_coords_table(window: int, pretrained_window: int) -> np.ndarray:
    """((2W-1)^2, 2) log-spaced relative coordinates, rows in the order :func:`relative_position_index` indexes."""
    d = np.arange(-(window - 1), window, dtype=np.float32)
    coords = np.stack(np.meshgrid(d, d, indexing="ij"), axis=-1).reshape(-1, 2)
    coords = coords / max((pretrained_window or window) - 1, 1) * 8
    return (np.sign(coords) * np.log2(np.abs(coords) + 1.0) / np.log2(8)).astype(np.float32)


class WindowAttention(nn.Module):
    num_heads: int
    window: int
    pretrained_window: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array, mask: np.ndarray | None) -> jax.Array:
        b, n, c = x.shape
        heads = self.num_heads
        q_bias = self.param("q_bias", nn.initializers.zeros, (c,), jnp.float32)
        v_bias = self.param("v_bias", nn.initializers.zeros, (c,), jnp.float32)
        qkv = layers.dense(3 * c, self.dtype, use_bias=False, name="qkv")(x)
        qkv = qkv + jnp.concatenate([q_bias, jnp.zeros_like(q_bias), v_bias]).astype(self.dtype)
        qkv = qkv.reshape(b, n, 3, heads, c // heads).astype(jnp.float32)  # cosine logits in float32
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

        def unit(t):  # F.normalize: t / max(|t|, 1e-12)
            return t / jnp.maximum(jnp.linalg.norm(t, axis=-1, keepdims=True), 1e-12)

        logits = jnp.einsum("bqhd,bkhd->bhqk", unit(q), unit(k))
        logit_scale = self.param("logit_scale", nn.initializers.constant(math.log(10.0)), (heads, 1, 1), jnp.float32)
        logits = logits * jnp.exp(jnp.minimum(logit_scale, MAX_LOGIT_SCALE))

        table = relative_coords_table(self.window, self.pretrained_window)
        hidden = nn.relu(layers.dense(512, jnp.float32, name="cpb_mlp_0")(table))
        table = layers.dense(heads, jnp.float32, use_bias=False, name="cpb_mlp_2")(hidden)
        area = self.window * self.window
        bias = table[relative_position_index(self.window).reshape(-1)].reshape(area, area, heads).transpose(2, 0, 1)
        logits = logits + 16 * jax.nn.sigmoid(bias)
        if mask is not None:  # windows are ordered image-major: (B * num_windows, ...)
            logits = (logits.reshape(-1, mask.shape[0], heads, area, area) + mask[:, None]).reshape(logits.shape)
        weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v.astype(self.dtype)).reshape(b, n, c)
        return layers.dense(c, self.dtype, name="proj")(out)


class SwinV2Block(nn.Module):
    num_heads: int
    window: int
    shift: int
    pretrained_window: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        if h % self.window or w % self.window:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the window {self.window}")
        mask = shifted_window_mask(h, w, self.window, self.shift) if self.shift else None
        y = jnp.roll(x, (-self.shift, -self.shift), axis=(1, 2)) if self.shift else x
        y = WindowAttention(self.num_heads, self.window, self.pretrained_window, self.dtype, name="attn")(
            window_partition(y, self.window), mask)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = jnp.roll(y, (self.shift, self.shift), axis=(1, 2))
        x = x + layers.layer_norm(LN_EPS, self.dtype, name="norm1")(y)
        y = layers.Mlp(4 * c, self.dtype, name="mlp")(x)
        return x + layers.layer_norm(LN_EPS, self.dtype, name="norm2")(y)


class PatchMerging(nn.Module):
    """2x2 neighbours -> channels in timm's order -> Linear 4C->2C (no bias) -> LayerNorm."""

    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 4, 2, 5).reshape(b, h // 2, w // 2, 4 * c)
        x = layers.dense(2 * c, self.dtype, use_bias=False, name="reduction")(x)
        return layers.layer_norm(LN_EPS, self.dtype, name="norm")(x)


class SwinTransformerV2(nn.Module):
    """Normalised NHWC images -> logits."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: int = 8
    pretrained_window_sizes: tuple[int, ...] = (0, 0, 0, 0)
    patch_size: int = 4
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = layers.conv(self.embed_dim, self.patch_size, self.patch_size, dtype=self.dtype,
                        name="patch_embed_proj")(images.astype(self.dtype))
        x = layers.layer_norm(LN_EPS, self.dtype, name="patch_embed_norm")(x)
        for stage, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
            if stage > 0:
                x = PatchMerging(self.dtype, name=f"layers_{stage}_downsample")(x)
            resolution = min(x.shape[1:3])
            window = min(self.window_size, resolution)
            for i in range(depth):
                shift = window // 2 if i % 2 and resolution > self.window_size else 0
                x = SwinV2Block(heads, window, shift, self.pretrained_window_sizes[stage], self.dtype,
                                name=f"layers_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x).mean(axis=(1, 2))
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> SwinTransformerV2:
    return SwinTransformerV2(dtype=dtype, **config)


register_family("swinv2", build, converter="converters.swinv2:convert")
register_family("swinv2_tv", build, converter="converters.swinv2:convert_torchvision")  # torchvision's layout


# --- registry --------------------------------------------------------------------------------------------------------

_SIZES = {  # size -> (embed_dim, depths, heads, timm parameter count)
    "tiny": (96, (2, 2, 6, 2), (3, 6, 12, 24), 28_347_154),
    "small": (96, (2, 2, 18, 2), (3, 6, 12, 24), 49_728_418),
    "base": (128, (2, 2, 18, 2), (4, 8, 16, 32), 87_918_816),
    "large": (192, (2, 2, 18, 2), (6, 12, 24, 48), 196_739_932),
}
_DATA = zoo.DataConfig(256, 0.9, "bicubic")


def _register(arch: str, size: str, window: int, tag: str, alias: str, pretrained_windows=(0, 0, 0, 0)) -> None:
    dim, depths, heads, num_params = _SIZES[size]
    cfg = zoo.config(embed_dim=dim, depths=depths, num_heads=heads, window_size=window,
                     pretrained_window_sizes=pretrained_windows)
    name = f"{arch}.{tag}"
    zoo.register(zoo.ModelSpec(name=name, family="swinv2", config=cfg, data=_DATA, num_params=num_params,
                               aliases=(alias,), hf_hub_id=f"timm/{name}"))


for _size, _letter in (("tiny", "t"), ("small", "s"), ("base", "b")):
    for _window in (8, 16):
        _register(f"swinv2_{_size}_window{_window}_256", _size, _window, "ms_in1k", f"swinv2_{_letter}_w{_window}")
for _size, _letter in (("base", "b"), ("large", "l")):  # ImageNet-22k at 192 px / window 12, fine-tuned at 256 / 16
    _register(f"swinv2_{_size}_window12to16_192to256", _size, 16, "ms_in22k_ft_in1k", f"swinv2_{_letter}_w12to16",
              pretrained_windows=(12, 12, 12, 6))

# torchvision's IMAGENET1K_V1 Swin-V2 with window 8 (the published SwinV2-T/S/B-W8 rows): bicubic resize 260 / 260 /
# 272, crop 256. torchvision's parameter counts include a k bias that it zeroes in every forward (the module has none).
for _size, _arch, _crop, _num_params, _file in (
        ("tiny", "swin_v2_t", 0.9846, 28_351_570, "swin_v2_t-b137f0e2.pth"),  # 256 / 0.9846 -> resize 260
        ("small", "swin_v2_s", 0.9846, 49_737_442, "swin_v2_s-637d8ceb.pth"),
        ("base", "swin_v2_b", 0.9411, 87_930_848, "swin_v2_b-781e5279.pth")):  # -> 272
    _dim, _depths, _heads, _ = _SIZES[_size]
    zoo.register(zoo.ModelSpec(name=f"tv_{_arch}.imagenet1k_v1", family="swinv2_tv",
                               config=zoo.config(embed_dim=_dim, depths=_depths, num_heads=_heads, window_size=8),
                               data=zoo.DataConfig(256, _crop, "bicubic"), num_params=_num_params,
                               url="https://download.pytorch.org/models/" + _file))
