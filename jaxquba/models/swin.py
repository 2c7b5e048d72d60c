"""Swin Transformer v1 (Liu et al. 2021) as timm's ``swin_transformer`` builds it.

Patch embedding (4x4/4 conv + LayerNorm), four stages of window attention, patch merging (2x2 neighbours
concatenated -> LayerNorm -> Linear 4C->2C without bias) at the start of stages 2-4, final LayerNorm, average pool,
Linear head. Blocks alternate regular and shifted windows (cyclic shift by window//2); shifted windows get timm's
additive mask (-100 between tokens that came from different image regions) on top of the learnt relative position
bias. A stage whose feature map is no larger than the window uses one window and no shift, as timm does.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-5  # Swin uses PyTorch's default LayerNorm


def relative_position_index(window: int) -> np.ndarray:
    """(window^2, window^2) index into the (2*window-1)^2 bias table for each (query, key) token pair."""
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return relative[..., 0] * (2 * window - 1) + relative[..., 1]


def window_partition(x: jax.Array, window: int) -> jax.Array:
    """(B, H, W, C) -> (B * H/window * W/window, window^2, C), windows in row-major order per image."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: jax.Array, window: int, h: int, w: int) -> jax.Array:
    c = windows.shape[-1]
    x = windows.reshape(-1, h // window, w // window, window, window, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> np.ndarray:
    """(num_windows, window^2, window^2) additive mask: -100 where query and key come from different regions.

    After the cyclic shift, border windows hold tokens from up to four image regions that are not neighbours;
    the regions are labelled and attention between different labels is suppressed.
    """
    labels = np.zeros((1, h, w, 1), np.float32)
    bands = ((0, -window), (-window, -shift), (-shift, None))
    for i, (h0, h1) in enumerate(bands):
        for j, (w0, w1) in enumerate(bands):
            labels[:, h0:h1, w0:w1, :] = i * len(bands) + j
    windows = np.asarray(window_partition(labels, window))[..., 0]  # (num_windows, window^2)
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0).astype(np.float32)


class SwinBlock(nn.Module):
    num_heads: int
    window: int
    shift: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        if h % self.window or w % self.window:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the window {self.window}")
        table = self.param("relative_position_bias_table", nn.initializers.zeros,
                           ((2 * self.window - 1) ** 2, self.num_heads), jnp.float32)
        area = self.window * self.window
        bias = table[relative_position_index(self.window).reshape(-1)].reshape(area, area, -1).transpose(2, 0, 1)
        num_windows = (h // self.window) * (w // self.window)
        bias = jnp.broadcast_to(bias, (num_windows, self.num_heads, area, area))
        if self.shift:
            bias = bias + shifted_window_mask(h, w, self.window, self.shift)[:, None]
        bias = jnp.tile(bias, (b, 1, 1, 1))  # windows are ordered image-major: (B * num_windows, ...)

        y = layers.layer_norm(LN_EPS, self.dtype, name="norm1")(x)
        if self.shift:
            y = jnp.roll(y, (-self.shift, -self.shift), axis=(1, 2))
        y = layers.SelfAttention(self.num_heads, True, self.dtype, name="attn")(window_partition(y, self.window), bias)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = jnp.roll(y, (self.shift, self.shift), axis=(1, 2))
        x = x + y
        return x + layers.Mlp(4 * c, self.dtype, name="mlp")(layers.layer_norm(LN_EPS, self.dtype, name="norm2")(x))


class PatchMerging(nn.Module):
    """2x2 neighbours -> channels in timm's order (top-left, bottom-left, top-right, bottom-right) -> 2C."""

    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 4, 2, 5).reshape(b, h // 2, w // 2, 4 * c)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x)
        return layers.dense(2 * c, self.dtype, use_bias=False, name="reduction")(x)


class SwinTransformer(nn.Module):
    """Normalised NHWC images -> logits."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: int = 7
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
                x = SwinBlock(heads, window, shift, self.dtype, name=f"layers_{stage}_blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="norm")(x).mean(axis=(1, 2))
        return layers.dense(self.num_classes, self.dtype, name="head_fc")(x)


def build(dtype=jnp.float32, **config) -> SwinTransformer:
    return SwinTransformer(dtype=dtype, **config)


register_family("swin", build, converter="converters.swin:convert")
register_family("swin_tv", build, converter="converters.swin:convert_torchvision")  # torchvision's layout


# --- registry --------------------------------------------------------------------------------------------------------

_ARCHS = {  # size -> (embed_dim, depths, heads, timm parameter count, alias)
    "tiny": (96, (2, 2, 6, 2), (3, 6, 12, 24), 28_288_354, "swin_t"),
    "small": (96, (2, 2, 18, 2), (3, 6, 12, 24), 49_606_258, "swin_s"),
    "base": (128, (2, 2, 18, 2), (4, 8, 16, 32), 87_768_224, "swin_b"),
}
_MS = zoo.DataConfig(224, 0.9, "bicubic")

for _size, (_dim, _depths, _heads, _num_params, _alias) in _ARCHS.items():
    _tags = (("ms_in1k", (_alias,)), ("ms_in22k_ft_in1k", (_alias + "_in22k",)))
    for _tag, _aliases in _tags if _size == "tiny" else _tags[::-1]:  # timm's default tag first
        _name = f"swin_{_size}_patch4_window7_224.{_tag}"
        zoo.register(zoo.ModelSpec(name=_name, family="swin",
                                   config=zoo.config(embed_dim=_dim, depths=_depths, num_heads=_heads), data=_MS,
                                   num_params=_num_params, aliases=_aliases, hf_hub_id=f"timm/{_name}"))

# torchvision's IMAGENET1K_V1 Swins (the published Swin-T/S/B rows): bicubic resize 232 / 246 / 238, crop 224.
for _size, _arch, _crop, _file in (("tiny", "swin_t", 0.9655, "swin_t-704ceda3.pth"),  # 224 / 0.9655 -> 232
                                   ("small", "swin_s", 0.9105, "swin_s-5e29d889.pth"),  # -> 246
                                   ("base", "swin_b", 0.9411, "swin_b-68c6b09e.pth")):  # -> 238
    _dim, _depths, _heads, _num_params, _alias = _ARCHS[_size]
    zoo.register(zoo.ModelSpec(name=f"tv_{_arch}.imagenet1k_v1", family="swin_tv",
                               config=zoo.config(embed_dim=_dim, depths=_depths, num_heads=_heads),
                               data=zoo.DataConfig(224, _crop, "bicubic"), num_params=_num_params,
                               url="https://download.pytorch.org/models/" + _file))

# RobustBench's adversarially trained Swins (Liu et al. 2023, ImageNet Linf; the published Liu2023Comprehensive rows):
# timm's architecture behind RobustBench's input normaliser (ImageNet mean/std, so the same data config), Resize 256
# bicubic -> crop 224. Weights: Google Drive files RobustBench downloads, --weights=PATH of the loaded model's state
# dict (see converters/robustbench.py).
register_family("swin_robustbench", build, converter="converters.robustbench:convert_swin",
                normalizes_inside=True)
for _published, _dim, _heads, _num_params in (("Liu2023Comprehensive-Swin-B", 128, (4, 8, 16, 32), 87_768_224),
                                              ("Liu2023Comprehensive-Swin-L", 192, (6, 12, 24, 48), 196_532_476)):
    zoo.register(zoo.ModelSpec(name=_published, family="swin_robustbench",
                               config=zoo.config(embed_dim=_dim, depths=(2, 2, 18, 2), num_heads=_heads),
                               data=zoo.DataConfig(224, 0.875, "bicubic"), num_params=_num_params,
                               aliases=(_published.replace("-Swin", "_Swin"),)))
