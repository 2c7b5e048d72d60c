"""Vision Transformer family: ViT, DeiT (plain and distilled) and DeiT-III, as timm's ``vision_transformer`` builds them.

One module covers the variants through its configuration:
  * ``class_token`` + ``global_pool='token'`` (original ViT/DeiT) or ``global_pool='avg'`` over the patch tokens;
  * ``fc_norm``: the final LayerNorm after pooling instead of before (timm's default for average pooling);
  * ``reg_tokens``: register tokens (ViT with registers), excluded from pooling like the class token;
  * ``no_embed_class``: position embeddings cover the patches only and are added before the class / register tokens
    are prepended (DeiT-III, big_vision);
  * ``layer_scale``: per-channel scale of both residual branches (DeiT-III, CaiT-style ``ls1``/``ls2``);
  * ``distilled``: DeiT's distillation token, whose head is averaged with the class head at inference;
  * ``pre_norm`` and ``ln_eps``: CLIP image towers' LayerNorm after the position embedding (their patch embedding
    has no bias) and their LayerNorm epsilon 1e-5;
  * ``head_blocks`` / ``head_avgpool``: the linear probes of DINO and DINOv2 (their published classification
    heads): one Linear on the class tokens of the last ``head_blocks`` blocks, each through the final norm, followed
    (``head_avgpool``) by the mean of the last block's normed patch tokens, concatenated in that order;
  * ``pos_grid``: the side of a position grid learnt at another resolution (DINOv2: 37 x 37, trained at 518 px),
    resampled to the input's patch grid at every call exactly as DINOv2's ``interpolate_pos_encoding`` does (see
    :func:`dinov2_resample_matrix`); 0: the position embedding is learnt for ``img_size`` and used as is;
  * ``conv_stem``: the convolutional stem of Singh et al. 2023 (RobustBench's ``ConvBlock``) in place of the
    patch projection: four 3x3/2 convs of width ``conv_stem`` x (1, 2, 4, 8), each followed by a channel LayerNorm
    (eps 1e-6) and GELU, then a 1x1 conv to ``embed_dim`` (a 16x reduction, like the 16 px patches it replaces);
  * ``mci_stem``: MobileCLIP-B's convolutional patch embedding (timm ``vit_base_mci_224``'s ``ConvStem``, see
    :class:`MciStem`) in place of the 16 px patch projection, also a 16x reduction;
  * ``head_bn``: MAE's linear probe, a BatchNorm without affine parameters (eps 1e-6) before the head;
  * ``global_pool='map'``: timm's attention pooling with a learnt latent query (``AttentionPoolLatent``, the SigLIP
    image towers, which have no class token): the latent attends over the normed patch tokens, then a residual MLP;
  * ``num_classes=0``: no classifier head, the pooled features are the output (image towers of
    :mod:`jaxquba.models.clip`'s SigLIP, as open_clip builds them with ``timm_proj='none'``).

Where weights come from another repository than timm:
  * DINOv2 linear classifiers (torch.hub ``facebookresearch/dinov2``, ``dinov2_vit{s,b,l}14[_reg]_lc``, the
    published ``ViT-*-14-dinoV2-LP`` / ``-dinov2-reg-LP`` rows): the backbone of timm's ``vit_*_patch14[_reg4]_dinov2``
    (timm converted the same checkpoints) plus a Linear on 4 class tokens + the mean patch token. timm builds its
    DINOv2 models at 518 px and, created at 224, resamples the 37 x 37 position grid once with antialiased bicubic
    to an exact size; the hub model resamples it at every call with plain bicubic at scale (16 + 0.1) / 37, which
    this module reproduces. timm folds the class token's position into the class token for the register models
    (``no_embed_class``); the hub adds it, and registers come after the position embedding, equivalently.
  * DINO linear probes (``ViT-s-16-DINO-LP``, ``ViT-b-16-DINO-LP``): timm's ``vit_{small,base}_patch16_224.dino``
    backbone; DINO's ``eval_linear`` concatenates (class token, mean patch token) of ViT-B/16 interleaved
    (c0, m0, c1, m1, ...), which the converter turns into this module's plain concatenation by permuting the head's
    input columns.
  * MAE fine-tuned ViT-B/16 (``vit-b-16-mae-ft``): MAE's ``models_vit`` with ``global_pool``: timm's ViT with
    average pooling and ``fc_norm``, the same state dict names. MAE's linear probe (``vit-b-16-mae-lp``, the peer's
    own, unpublished): the class token after the final norm, ``head = Sequential(BatchNorm1d(affine=False), Linear)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo
from jaxquba.models import layers, register_family

LN_EPS = 1e-6  # timm builds its ViTs with LayerNorm(eps=1e-6)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)), each optionally layer-scaled."""

    num_heads: int
    mlp_ratio: float
    qkv_bias: bool
    layer_scale: bool
    ln_eps: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim = x.shape[-1]
        y = layers.SelfAttention(self.num_heads, self.qkv_bias, self.dtype, name="attn")(
            layers.layer_norm(self.ln_eps, self.dtype, name="norm1")(x))
        x = x + (layers.LayerScale(name="ls1")(y) if self.layer_scale else y)
        y = layers.Mlp(int(dim * self.mlp_ratio), self.dtype, name="mlp")(
            layers.layer_norm(self.ln_eps, self.dtype, name="norm2")(x))
        return x + (layers.LayerScale(name="ls2")(y) if self.layer_scale else y)


class MapHead(nn.Module):
    """timm's ``AttentionPoolLatent`` (one latent, ``pool_type='token'``): multi-head attention of a learnt latent
    query over the tokens, its output projection, then ``x + mlp(norm(x))``; [B, N, C] -> [B, C]."""

    num_heads: int
    mlp_ratio: float
    ln_eps: float
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, tokens, dim = x.shape
        head_dim = dim // self.num_heads
        latent = self.param("latent", nn.initializers.zeros, (1, 1, dim), jnp.float32).astype(self.dtype)
        q = layers.dense(dim, self.dtype, name="q")(latent).reshape(1, 1, self.num_heads, head_dim)
        kv = layers.dense(2 * dim, self.dtype, name="kv")(x).reshape(batch, tokens, 2, self.num_heads, head_dim)
        out = layers.dot_product_attention(jnp.broadcast_to(q, (batch, 1, self.num_heads, head_dim)),
                                           kv[:, :, 0], kv[:, :, 1])
        x = layers.dense(dim, self.dtype, name="proj")(out.reshape(batch, dim))
        y = layers.Mlp(int(dim * self.mlp_ratio), self.dtype, name="mlp")(
            layers.layer_norm(self.ln_eps, self.dtype, name="norm")(x))
        return x + y


class MciStem(nn.Module):
    """MobileCLIP-B's stem: 4x4/4 conv + batch norm + GELU, 2x2/2 conv + batch norm + GELU (width ``embed_dim / 4``),
    then a 2x2/2 conv with bias to ``embed_dim``; no padding, so every pixel falls in exactly one 16 px patch."""

    embed_dim: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, (kernel, width) in enumerate(((4, self.embed_dim // 4), (2, self.embed_dim // 4))):
            x = layers.conv(width, kernel, kernel, "VALID", use_bias=False, dtype=self.dtype, name=f"conv_{i}")(x)
            x = layers.gelu(layers.FrozenBatchNorm(dtype=self.dtype, name=f"bn_{i}")(x))
        return layers.conv(self.embed_dim, 2, 2, "VALID", dtype=self.dtype, name="conv_2")(x)


class VisionTransformer(nn.Module):
    """Normalised NHWC images (img_size x img_size) -> logits (``num_classes=0``: the pooled features)."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    img_size: int = 224
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    class_token: bool = True
    reg_tokens: int = 0
    no_embed_class: bool = False
    global_pool: str = "token"  # 'token' | 'avg' | 'map'
    fc_norm: bool = False
    layer_scale: bool = False
    distilled: bool = False
    pre_norm: bool = False
    ln_eps: float = LN_EPS
    pos_grid: int = 0
    head_blocks: int = 0
    head_avgpool: bool = False
    head_bn: bool = False
    conv_stem: int = 0
    mci_stem: bool = False
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    def _token(self, name: str, count: int) -> jax.Array:
        return self.param(name, nn.initializers.zeros, (1, count, self.embed_dim), jnp.float32)

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        if images.shape[1:3] != (self.img_size, self.img_size):
            raise ValueError(f"this ViT takes {self.img_size}x{self.img_size} images, got {images.shape[1:3]}")
        batch = images.shape[0]
        if self.conv_stem:
            w = self.conv_stem
            x = layers.ConvStem((w, 2 * w, 4 * w, 8 * w), (2, 2, 2, 2), self.embed_dim, self.dtype,
                                name="patch_embed")(images.astype(self.dtype))
        elif self.mci_stem:
            x = MciStem(self.embed_dim, self.dtype, name="patch_embed")(images.astype(self.dtype))
        else:
            x = layers.conv(self.embed_dim, self.patch_size, self.patch_size, padding="VALID",
                            use_bias=not self.pre_norm, dtype=self.dtype, name="patch_embed")(images.astype(self.dtype))
        grid = x.shape[1]
        x = x.reshape(batch, -1, self.embed_dim)  # row-major patch order, as PyTorch's flatten(2)

        prefix = []
        if self.class_token:
            prefix.append(self._token("cls_token", 1))
        if self.distilled:
            prefix.append(self._token("dist_token", 1))
        if self.reg_tokens:
            prefix.append(self._token("reg_token", self.reg_tokens))
        num_prefix = sum(t.shape[1] for t in prefix)
        embedded_prefix = 0 if self.no_embed_class else num_prefix
        pos_len = (self.pos_grid ** 2 if self.pos_grid else x.shape[1]) + embedded_prefix
        pos_embed = self.param("pos_embed", nn.initializers.zeros, (1, pos_len, self.embed_dim), jnp.float32)
        if self.pos_grid and self.pos_grid != grid:
            resample = jnp.asarray(dinov2_resample_matrix(self.pos_grid, grid))
            table = pos_embed[0, embedded_prefix:].reshape(self.pos_grid, self.pos_grid, self.embed_dim)
            table = jnp.einsum("ih,hwc,jw->ijc", resample, table, resample, precision=jax.lax.Precision.HIGHEST)
            pos_embed = jnp.concatenate([pos_embed[:, :embedded_prefix], table.reshape(1, -1, self.embed_dim)], 1)
        prefix = [jnp.broadcast_to(t, (batch,) + t.shape[1:]).astype(self.dtype) for t in prefix]
        if self.no_embed_class:
            x = jnp.concatenate(prefix + [x + pos_embed.astype(self.dtype)], axis=1)
        else:
            x = jnp.concatenate(prefix + [x], axis=1) + pos_embed.astype(self.dtype)
        if self.pre_norm:
            x = layers.layer_norm(self.ln_eps, self.dtype, name="norm_pre")(x)

        probed = []  # the outputs of the last ``head_blocks`` blocks
        for i in range(self.depth):
            x = Block(self.num_heads, self.mlp_ratio, self.qkv_bias, self.layer_scale, self.ln_eps, self.dtype,
                      name=f"blocks_{i}")(x)
            if i >= self.depth - self.head_blocks:
                probed.append(x)

        if self.head_blocks:
            norm = layers.layer_norm(self.ln_eps, self.dtype, name="norm")  # per token: norm, then pick tokens
            features = [norm(out[:, 0]) for out in probed]
            if self.head_avgpool:
                features.append(norm(probed[-1][:, num_prefix:]).mean(axis=1))
            return layers.dense(self.num_classes, self.dtype, name="head")(jnp.concatenate(features, axis=-1))
        if not self.fc_norm:
            x = layers.layer_norm(self.ln_eps, self.dtype, name="norm")(x)
        if self.distilled:
            head = layers.dense(self.num_classes, self.dtype, name="head")(x[:, 0])
            head_dist = layers.dense(self.num_classes, self.dtype, name="head_dist")(x[:, 1])
            return (head + head_dist) / 2
        if self.global_pool == "map":
            x = MapHead(self.num_heads, self.mlp_ratio, self.ln_eps, self.dtype, name="attn_pool")(x[:, num_prefix:])
        elif self.global_pool == "token":
            x = x[:, 0]
        else:
            x = x[:, num_prefix:].mean(axis=1)
        if self.fc_norm:
            x = layers.layer_norm(self.ln_eps, self.dtype, name="fc_norm")(x)
        if self.head_bn:
            x = layers.FrozenBatchNorm(1e-6, self.dtype, name="head_bn")(x)
        if not self.num_classes:
            return x
        return layers.dense(self.num_classes, self.dtype, name="head")(x)


def dinov2_resample_matrix(source: int, target: int, offset: float = 0.1) -> np.ndarray:
    """(target, source) weights of DINOv2's position-grid resampling along one axis: PyTorch's bicubic
    ``interpolate`` (A = -0.75, half-pixel centres, edge indices clamped, no antialias) with the scale factor
    ``(target + offset) / source`` that DINOv2 passes (its "historical kludge" against rounding): source coordinate
    ``(i + 0.5) * source / (target + offset) - 0.5``. Separable, so the 2-D resampling is ``R @ grid @ R.T``."""
    a = -0.75
    coords = (np.arange(target) + 0.5) * (source / (target + offset)) - 0.5
    base = np.floor(coords)
    t = coords - base
    weights = np.stack([((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                        ((a + 2) * t - (a + 3)) * t * t + 1,
                        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a], axis=1)
    matrix = np.zeros((target, source))
    for k in range(4):
        np.add.at(matrix, (np.arange(target), np.clip(base.astype(int) - 1 + k, 0, source - 1)), weights[:, k])
    return matrix.astype(np.float32)


def build(dtype=jnp.float32, **config) -> VisionTransformer:
    return VisionTransformer(dtype=dtype, **config)


register_family("vit", build, converter="converters.vit:convert")
register_family("vit_tv", build, converter="converters.vit:convert_torchvision")  # torchvision's layout


# --- registry --------------------------------------------------------------------------------------------------------

_SIZES = {  # name -> (embed_dim, depth, num_heads)
    "tiny": (192, 12, 3), "small": (384, 12, 6), "medium": (512, 12, 8), "base": (768, 12, 12),
    "large": (1024, 24, 16),
}

_AUGREG_224 = zoo.DataConfig(224, 0.9, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD)
_AUGREG_384 = zoo.DataConfig(384, 1.0, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD)
_DEIT_224 = zoo.DataConfig(224, 0.9, "bicubic")
_DEIT_384 = zoo.DataConfig(384, 1.0, "bicubic")
_DEIT3_IN22K_224 = zoo.DataConfig(224, 1.0, "bicubic")
_SBB_256 = zoo.DataConfig(256, 0.95, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD)


def _register(arch: str, size: str, patch: int, img: int, num_params: int,
              tags: tuple[tuple[str, zoo.DataConfig, tuple[str, ...]], ...], **extra) -> None:
    """Registers ``arch.tag`` for each (tag, data config, aliases); the first tag is timm's default for ``arch``."""
    embed_dim, depth, num_heads = _SIZES[size]
    cfg = zoo.config(patch_size=patch, embed_dim=embed_dim, depth=depth, num_heads=num_heads, img_size=img, **extra)
    for tag, data, aliases in tags:
        name = f"{arch}.{tag}"
        zoo.register(zoo.ModelSpec(name=name, family="vit", config=cfg, data=data, num_params=num_params,
                                   aliases=aliases, hf_hub_id=f"timm/{name}"))


_DEIT3 = dict(no_embed_class=True, layer_scale=True)

# ViT (Dosovitskiy et al.; AugReg, Steiner et al.). Parameter counts are timm's for the 1000-class models.
_register("vit_tiny_patch16_224", "tiny", 16, 224, 5_717_416, (("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_t16",)),))
_register("vit_tiny_patch16_384", "tiny", 16, 384, 5_790_376, (("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_t16_384",)),))
_register("vit_small_patch16_224", "small", 16, 224, 22_050_664, (
    ("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_s16",)), ("augreg_in1k", _AUGREG_224, ("vit_s16_in1k",))))
_register("vit_small_patch16_384", "small", 16, 384, 22_196_584, (
    ("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_s16_384",)), ("augreg_in1k", _AUGREG_384, ())))
_register("vit_small_patch32_224", "small", 32, 224, 22_878_952, (("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_s32",)),))
_register("vit_small_patch32_384", "small", 32, 384, 22_915_432, (("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_s32_384",)),))
_register("vit_base_patch16_224", "base", 16, 224, 86_567_656, (
    ("augreg2_in21k_ft_in1k", _AUGREG_224, ("vit_b16",)), ("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_b16_augreg",)),
    ("augreg_in1k", _AUGREG_224, ("vit_b16_in1k",)), ("orig_in21k_ft_in1k", _AUGREG_224, ("vit_b16_orig",))))
_register("vit_base_patch16_384", "base", 16, 384, 86_859_496, (
    ("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_b16_384",)), ("orig_in21k_ft_in1k", _AUGREG_384, ()),
    ("augreg_in1k", _AUGREG_384, ())))
_register("vit_base_patch32_224", "base", 32, 224, 88_224_232, (
    ("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_b32",)), ("augreg_in1k", _AUGREG_224, ("vit_b32_in1k",))))
_register("vit_base_patch32_384", "base", 32, 384, 88_297_192, (
    ("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_b32_384",)), ("augreg_in1k", _AUGREG_384, ())))
_register("vit_large_patch16_224", "large", 16, 224, 304_326_632, (("augreg_in21k_ft_in1k", _AUGREG_224, ("vit_l16",)),))
_register("vit_large_patch16_384", "large", 16, 384, 304_715_752, (("augreg_in21k_ft_in1k", _AUGREG_384, ("vit_l16_384",)),))
_register("vit_large_patch32_384", "large", 32, 384, 306_632_680, (("orig_in21k_ft_in1k", _AUGREG_384, ("vit_l32_384",)),))
# Average-pooled ViTs: without class token (final norm before pooling), and with register tokens (fc_norm).
_register("vit_medium_patch16_gap_256", "medium", 16, 256, 38_861_288, (
    ("sw_in12k_ft_in1k", zoo.DataConfig(256, 0.95, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
     ("vit_m16_gap",)),), class_token=False, global_pool="avg", qkv_bias=False, layer_scale=True)
_register("vit_medium_patch16_reg4_gap_256", "medium", 16, 256, 38_881_768, (("sbb_in1k", _SBB_256, ("vit_m16_reg4",)),),
          class_token=False, reg_tokens=4, no_embed_class=True, global_pool="avg", fc_norm=True, layer_scale=True)

# DeiT (Touvron et al. 2021), plain and distilled.
_register("deit_tiny_patch16_224", "tiny", 16, 224, 5_717_416, (("fb_in1k", _DEIT_224, ("deit_t",)),))
_register("deit_small_patch16_224", "small", 16, 224, 22_050_664, (("fb_in1k", _DEIT_224, ("deit_s",)),))
_register("deit_base_patch16_224", "base", 16, 224, 86_567_656, (("fb_in1k", _DEIT_224, ("deit_b",)),))
_register("deit_base_patch16_384", "base", 16, 384, 86_859_496, (("fb_in1k", _DEIT_384, ("deit_b_384",)),))
_register("deit_tiny_distilled_patch16_224", "tiny", 16, 224, 5_910_800,
          (("fb_in1k", _DEIT_224, ("deit_t_distilled",)),), distilled=True)
_register("deit_small_distilled_patch16_224", "small", 16, 224, 22_436_432,
          (("fb_in1k", _DEIT_224, ("deit_s_distilled",)),), distilled=True)
_register("deit_base_distilled_patch16_224", "base", 16, 224, 87_338_192,
          (("fb_in1k", _DEIT_224, ("deit_b_distilled",)),), distilled=True)
_register("deit_base_distilled_patch16_384", "base", 16, 384, 87_630_032,
          (("fb_in1k", _DEIT_384, ("deit_b_distilled_384",)),), distilled=True)

# DeiT-III (Touvron et al. 2022): LayerScale, position embeddings without the class token.
for _size, _letter, _p224, _p384 in (("small", "s", 22_059_496, 22_205_416), ("base", "b", 86_585_320, 86_877_160),
                                     ("large", "l", 304_374_760, 304_763_880)):
    _register(f"deit3_{_size}_patch16_224", _size, 16, 224, _p224, (
        ("fb_in1k", _DEIT_224, (f"deit3_{_letter}",)),
        ("fb_in22k_ft_in1k", _DEIT3_IN22K_224, (f"deit3_{_letter}_in22k",))), **_DEIT3)
    _register(f"deit3_{_size}_patch16_384", _size, 16, 384, _p384, (
        ("fb_in1k", _DEIT_384, (f"deit3_{_letter}_384",)),
        ("fb_in22k_ft_in1k", _DEIT_384, (f"deit3_{_letter}_384_in22k",))), **_DEIT3)
_register("deit3_medium_patch16_224", "medium", 16, 224, 38_849_512, (  # timm has the medium size at 224 only
    ("fb_in1k", _DEIT_224, ("deit3_m",)), ("fb_in22k_ft_in1k", _DEIT3_IN22K_224, ("deit3_m_in22k",))), **_DEIT3)

# torchvision's IMAGENET1K_V1 ViTs (the published ViT-b-16 ... rows): resize 256 (242 for L/16) bilinear, crop 224.
_TV = "https://download.pytorch.org/models/"
for _arch, _size, _patch, _num_params, _crop, _file in (  # torchvision's parameter counts
        ("vit_b_16", "base", 16, 86_567_656, 0.875, "vit_b_16-c867db91.pth"),
        ("vit_l_16", "large", 16, 304_326_632, 0.9256, "vit_l_16-852ce7e3.pth"),  # 224 / 0.9256 -> resize 242
        ("vit_b_32", "base", 32, 88_224_232, 0.875, "vit_b_32-d86f8d99.pth"),
        ("vit_l_32", "large", 32, 306_535_400, 0.875, "vit_l_32-c7638314.pth")):
    _dim, _depth, _num_heads = _SIZES[_size]
    zoo.register(zoo.ModelSpec(
        name=f"tv_{_arch}.imagenet1k_v1", family="vit_tv",
        config=zoo.config(patch_size=_patch, embed_dim=_dim, depth=_depth, num_heads=_num_heads, img_size=224),
        data=zoo.DataConfig(224, _crop, "bilinear"), num_params=_num_params, url=_TV + _file))

# CLIP image towers fine-tuned on ImageNet-1k by timm (the published CLIP-*-V-* rows): class-token ViTs with a
# LayerNorm before the blocks, no patch-embedding bias and LayerNorm eps 1e-5.
_CLIP = dict(pre_norm=True, ln_eps=1e-5)
for _patch, _num_params, _crops in ((16, 86_568_424, (("openai_ft_in1k", 0.9), ("laion2b_ft_in1k", 1.0))),
                                    (32, 88_225_000, (("openai_ft_in1k", 0.9), ("laion2b_ft_in1k", 0.9)))):
    _register(f"vit_base_patch{_patch}_clip_224", "base", _patch, 224, _num_params, tuple(
        (_tag, zoo.DataConfig(224, _crop, "bicubic", zoo.OPENAI_CLIP_MEAN, zoo.OPENAI_CLIP_STD), ())
        for _tag, _crop in _crops), **_CLIP)

# Self-supervised backbones with the heads the published table evaluated (its rows name them; see the module
# docstring for what differs from timm). Resize 256 bicubic, crop 224, as DINO, DINOv2 and MAE evaluate.
register_family("vit_lp", build, converter="converters.vit:convert_linear_probe")
register_family("vit_dino_lp", build, converter="converters.vit:convert_dino_linear_probe")
_SSL_224 = zoo.DataConfig(224, 0.875, "bicubic")
_DINOV2_HUB = "torch.hub facebookresearch/dinov2 "


def _register_published(name: str, family: str, size: str, patch: int, num_params: int, **extra) -> None:
    """A model known by its published name only: weights that no timm tag holds (see ``published_models.csv``)."""
    embed_dim, depth, num_heads = _SIZES[size]
    zoo.register(zoo.ModelSpec(name=name, family=family, config=zoo.config(
        patch_size=patch, embed_dim=embed_dim, depth=depth, num_heads=num_heads, img_size=224, **extra),
        data=_SSL_224, num_params=num_params))


# DINOv2 linear classifiers (hub ``dinov2_vit*14[_reg]_lc``, 4 class tokens + mean patch token) and the peer's own
# fine-tuned copies of the same models. Parameter counts are the hub models': 518-px position grid, the unused
# ``mask_token`` and the (5 x dim) x 1000 head included.
_DINOV2 = dict(layer_scale=True, pos_grid=37, head_blocks=4, head_avgpool=True)
for _size, _letter, _num_params in (("small", "s", 23_977_576), ("base", "b", 90_421_480),
                                    ("large", "l", 309_489_640)):
    _registers = 4 * _SIZES[_size][0]
    for _name, _extra, _count in (
            (f"ViT-{_letter}-14-dinoV2-LP", {}, _num_params), (f"ViT-{_letter}-14-dinoV2-FT", {}, _num_params),
            (f"ViT-{_letter}-14-dinov2-reg-LP", dict(reg_tokens=4, no_embed_class=True), _num_params + _registers),
            (f"ViT-{_letter}-14-dinoV2-FT-Reg", dict(reg_tokens=4, no_embed_class=True), _num_params + _registers)):
        _register_published(_name, "vit_lp", _size, 14, _count, **_DINOV2, **_extra)

# DINO (v1) linear probes: ViT-S/16 on the class tokens of the last 4 blocks, ViT-B/16 on (class token, mean patch
# token) of the last; the peer's DINO-pre-trained ViT-B/16 fine-tuned with timm's class-token head.
_register_published("ViT-s-16-DINO-LP", "vit_dino_lp", "small", 16, 23_202_664, head_blocks=4)
_register_published("ViT-b-16-DINO-LP", "vit_dino_lp", "base", 16, 87_335_656, head_blocks=1, head_avgpool=True)
_register_published("ViTB-DINO-FT", "vit", "base", 16, 86_567_656)

# MAE's fine-tuned ViT-B/16 (release file of facebookresearch/mae): average pool and fc_norm; the peer's linear probe.
register_family("vit_mae_lp", build, converter="converters.vit:convert_mae_linear_probe")
_register_published("vit-b-16-mae-lp", "vit_mae_lp", "base", 16, 86_567_656, head_bn=True)
zoo.register(zoo.ModelSpec(
    name="vit-b-16-mae-ft", family="vit", data=_SSL_224, num_params=86_567_656,
    config=zoo.config(patch_size=16, embed_dim=768, depth=12, num_heads=12, img_size=224, global_pool="avg",
                      fc_norm=True),
    url="https://dl.fbaipublicfiles.com/mae/finetune/mae_finetuned_vit_base.pth"))

# RobustBench's adversarially trained ViTs with a convolutional stem (Singh et al. 2023, ImageNet Linf; the published
# Singh2023Revisiting rows), Resize 256 bicubic -> crop 224. ViT-S sits behind RobustBench's ImageNet normaliser
# (family vit_robustbench reads it under ``model.`` and checks the normaliser); ViT-B has no normaliser: it takes
# [0, 1] images as they are (mean 0, std 1). Weights: Google Drive files RobustBench downloads, --weights=PATH.
register_family("vit_robustbench", build, converter="converters.robustbench:convert_vit",
                normalizes_inside=True)
for _published, _family, _size, _num_params, _data in (
        ("Singh2023Revisiting-ViT-S-ConvStem", "vit_robustbench", "small", 22_777_576,
         zoo.DataConfig(224, 0.875, "bicubic")),
        ("Singh2023Revisiting-ViT-B-ConvStem", "vit", "base", 87_147_112,
         zoo.DataConfig(224, 0.875, "bicubic", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))):
    _dim, _depth, _num_heads = _SIZES[_size]
    zoo.register(zoo.ModelSpec(name=_published, family=_family, config=zoo.config(
        patch_size=16, embed_dim=_dim, depth=_depth, num_heads=_num_heads, img_size=224, conv_stem=48),
        data=_data, num_params=_num_params, aliases=(_published.replace("-ViT", "_ViT"),)))
