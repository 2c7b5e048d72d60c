"""CLIP-family models (OpenAI CLIP, OpenCLIP, MobileCLIP) as zero-shot ImageNet classifiers.

The image tower is a ViT (class token, ``ln_pre``, ``ln_post``, projection), OpenAI's modified ResNet (three-conv
stem, anti-aliased strided blocks, attention pooling) or, for OpenCLIP's ``convnext_*`` configurations, open_clip's
``TimmModel`` around a timm ConvNeXt trunk (:class:`ConvNeXtTower`); the text tower is a causal transformer read
out at the end-of-text token. MobileCLIP-S1/S2 have a FastViT image tower (:mod:`jaxquba.models.fastvit`,
reparameterised as the peer ran it, its classifier being the projection) and a bidirectional text tower (no causal
mask); MobileCLIP-B is timm's ViT-B/16 with a convolutional stem (``vit_base_mci_224``, :mod:`jaxquba.models.vit`'s
``mci_stem``; its classifier is the projection) and CLIP's causal text tower. As a classifier, the model L2-normalises the image features and returns
``100 * cosine`` with the 1000 class embeddings of its zero-shot head (``zeroshot_head``, built from the text tower by
:mod:`jaxquba.zeroshot.heads` when the weights are converted). Under the ``quba_paper`` protocol these logits are
turned into the probabilities the peer's wrapper returned (``ModelSpec.output == 'probs'``; see
:mod:`jaxquba.protocols`).

SigLIP and SigLIP 2 (:class:`SigLIP`, family ``siglip``) reuse the text tower and the zero-shot head: the image
tower is timm's ViT without class token, pooled by attention with a learnt latent query (``global_pool='map'``, see
:mod:`jaxquba.models.vit`), with no projection (its width is the embedding size); the text tower is bidirectional,
read at the last position of the padded 64-token context, with a biased projection (SigLIP 2: tanh-approximated
GELU and the Gemma vocabulary of 256,000 tokens). The head is the same prompt ensemble of normalised text features
(the peer builds it exactly as for CLIP); the logits are the sigmoid head's ``exp(logit_scale) * cosine +
logit_bias`` with the learnt scale and bias.

Which probabilities the QUBA dimensions get for a SigLIP row: the peer's ``SigLIPModel`` / ``SigLIP2Model`` return
``sigmoid(logits)``, one independent probability per class (they do not sum to one), and its calibration, class
balance and attacks then apply their softmax to those values as if they were logits. ``ModelSpec.output ==
'sigmoid_probs'`` reproduces that under the ``quba_paper`` protocol (:func:`jaxquba.protocols.model_outputs`); under
``pixel`` the logits themselves are softmaxed once, the multi-class reading of the sigmoid head (the bias cancels,
the learnt scale is the temperature). Top-1 and top-5 are the same under both: sigmoid and softmax are monotone.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import convnext, fastvit, layers, register_family, vit

LN_EPS = 1e-5  # torch.nn.LayerNorm's default, used by both CLIP code bases
ZERO_SHOT_SCALE = 100.0  # the fixed logit scale of the zero-shot wrappers (not the learned one)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def quick_gelu(x: jax.Array) -> jax.Array:
    """OpenAI CLIP's activation x * sigmoid(1.702 x); OpenCLIP's own trainings use the exact GELU."""
    return x * jax.nn.sigmoid(1.702 * x)


def activation(x: jax.Array, quick: bool, tanh: bool = False) -> jax.Array:
    """The text and image towers' MLP activation: QuickGELU (OpenAI), the tanh-approximated GELU (SigLIP 2's text
    tower, open_clip's ``act_kwargs={'approximate': 'tanh'}``) or the exact GELU."""
    if quick:
        return quick_gelu(x)
    return nn.gelu(x, approximate=True) if tanh else layers.gelu(x)


class ResidualBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), x + mlp(ln_2(x)); ``mask`` is added to the attention logits."""

    heads: int
    quick_gelu: bool
    mlp_ratio: float = 4.0
    dtype: layers.Dtype = jnp.float32
    ln_eps: float = LN_EPS
    tanh_gelu: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        width = x.shape[-1]
        x = x + layers.SelfAttention(self.heads, True, self.dtype, name="attn")(
            layers.layer_norm(self.ln_eps, self.dtype, name="ln_1")(x), mask)
        y = layers.layer_norm(self.ln_eps, self.dtype, name="ln_2")(x)
        y = layers.dense(int(width * self.mlp_ratio), self.dtype, name="c_fc")(y)
        y = activation(y, self.quick_gelu, self.tanh_gelu)
        return x + layers.dense(width, self.dtype, name="c_proj")(y)


class VisionTransformer(nn.Module):
    width: int
    layers: int
    patch_size: int
    image_size: int
    embed_dim: int
    quick_gelu: bool
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        batch = images.shape[0]
        x = layers.conv(self.width, self.patch_size, self.patch_size, "VALID", use_bias=False, dtype=self.dtype,
                        name="conv1")(images.astype(self.dtype)).reshape(batch, -1, self.width)
        cls = self.param("class_embedding", nn.initializers.zeros, (self.width,), jnp.float32)
        pos = self.param("positional_embedding", nn.initializers.zeros, (x.shape[1] + 1, self.width), jnp.float32)
        x = jnp.concatenate([jnp.broadcast_to(cls.astype(self.dtype), (batch, 1, self.width)), x], axis=1)
        x = layers.layer_norm(LN_EPS, self.dtype, name="ln_pre")(x + pos.astype(self.dtype))
        for i in range(self.layers):
            x = ResidualBlock(self.width // 64, self.quick_gelu, dtype=self.dtype, name=f"blocks_{i}")(x)
        x = layers.layer_norm(LN_EPS, self.dtype, name="ln_post")(x[:, 0])
        proj = self.param("proj", nn.initializers.zeros, (self.width, self.embed_dim), jnp.float32)
        return x @ proj.astype(self.dtype)


class Bottleneck(nn.Module):
    """OpenAI's anti-aliased bottleneck: strided blocks average-pool before the last 1x1 conv and the shortcut."""

    planes: int
    stride: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        def conv_bn(y, features, kernel, name):
            y = layers.conv(features, kernel, padding=kernel // 2, use_bias=False, dtype=self.dtype,
                            name=f"conv{name}")(y)
            return layers.FrozenBatchNorm(dtype=self.dtype, name=f"bn{name}")(y)

        out = nn.relu(conv_bn(x, self.planes, 1, "1"))
        out = nn.relu(conv_bn(out, self.planes, 3, "2"))
        out = _avg_pool(out, self.stride)
        out = conv_bn(out, self.planes * 4, 1, "3")
        if self.stride > 1 or x.shape[-1] != self.planes * 4:
            x = layers.conv(self.planes * 4, 1, use_bias=False, dtype=self.dtype, name="downsample_conv")(
                _avg_pool(x, self.stride))
            x = layers.FrozenBatchNorm(dtype=self.dtype, name="downsample_bn")(x)
        return nn.relu(out + x)


def _avg_pool(x: jax.Array, size: int) -> jax.Array:
    return x if size == 1 else nn.avg_pool(x, (size, size), (size, size))


class AttentionPool(nn.Module):
    """Attention pooling: the mean token (plus position embeddings) attends over all spatial tokens."""

    heads: int
    output_dim: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, height, width, dim = x.shape
        x = x.reshape(batch, height * width, dim)
        x = jnp.concatenate([x.mean(axis=1, keepdims=True), x], axis=1)
        pos = self.param("positional_embedding", nn.initializers.zeros, (x.shape[1], dim), jnp.float32)
        x = x + pos.astype(self.dtype)
        head_dim = dim // self.heads

        def project(name, tokens):
            return layers.dense(dim, self.dtype, name=name)(tokens).reshape(batch, -1, self.heads, head_dim)

        out = layers.dot_product_attention(project("q_proj", x[:, :1]), project("k_proj", x), project("v_proj", x))
        return layers.dense(self.output_dim, self.dtype, name="c_proj")(out.reshape(batch, dim))


class ModifiedResNet(nn.Module):
    stage_blocks: tuple[int, ...]
    width: int
    image_size: int
    embed_dim: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        for i, (features, stride) in enumerate(((self.width // 2, 2), (self.width // 2, 1), (self.width, 1)), 1):
            x = layers.conv(features, 3, stride, 1, use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.relu(layers.FrozenBatchNorm(dtype=self.dtype, name=f"bn{i}")(x))
        x = _avg_pool(x, 2)
        for stage, blocks in enumerate(self.stage_blocks):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                x = Bottleneck(self.width * 2 ** stage, stride, self.dtype, name=f"layer{stage + 1}_{b}")(x)
        return AttentionPool(self.width * 32 // 64, self.embed_dim, self.dtype, name="attnpool")(x)


class ConvNeXtTower(nn.Module):
    """open_clip's ``TimmModel`` as its ``convnext_*`` configurations build it (``timm_pool=''``): timm's ConvNeXt
    with its classifier reset to nothing, so the trunk ends in timm's own average pool and head LayerNorm
    (:class:`~jaxquba.models.convnext.ConvNeXt` with ``num_classes=0``), then open_clip's projection to
    ``embed_dim``: ``proj='linear'`` one Linear without bias; ``proj='mlp'`` (the ``_d`` configurations) timm's
    ``Mlp``: Linear to 2 x embed_dim with bias, exact GELU, Linear without bias."""

    depths: tuple[int, ...]
    dims: tuple[int, ...]
    proj: str
    image_size: int
    embed_dim: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = convnext.ConvNeXt(self.depths, self.dims, num_classes=0, dtype=self.dtype, name="trunk")(images)
        if self.proj == "linear":
            return layers.dense(self.embed_dim, self.dtype, use_bias=False, name="head_proj")(x)
        if self.proj != "mlp":
            raise ValueError(f"unknown open_clip timm projection {self.proj!r}")
        x = layers.gelu(layers.dense(2 * self.embed_dim, self.dtype, name="head_fc1")(x))
        return layers.dense(self.embed_dim, self.dtype, use_bias=False, name="head_fc2")(x)


class TextTransformer(nn.Module):
    """open_clip's ``TextTransformer``: token + position embeddings, pre-norm blocks, ``ln_final``, one token's
    features projected to ``embed_dim``.

    CLIP: causal mask, read at the end-of-text token (the largest id, open_clip's ``pool_type='argmax'``),
    projection without bias. SigLIP (``causal=False``, ``pool='last'``, ``proj_bias=True``, ``ln_eps=1e-6``):
    bidirectional attention over the whole padded context, read at its last position, a biased projection.
    """

    width: int
    layers: int
    heads: int
    context_length: int
    vocab_size: int
    embed_dim: int
    quick_gelu: bool
    causal: bool = True  # False: bidirectional (SigLIP; MobileCLIP-S1/S2, open_clip's ``no_causal_mask``)
    pool: str = "argmax"  # 'argmax' | 'last'
    proj_bias: bool = False
    ln_eps: float = LN_EPS
    tanh_gelu: bool = False
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Token ids [B, L] (L <= context_length) -> text features [B, embed_dim].

        With the causal mask and argmax pooling, features at the end-of-text token do not depend on the padding
        after it, so callers may trim trailing padding columns (L < context_length) and get identical features
        faster. A bidirectional tower attends to the padding too (open_clip masks nothing there), so it pads trimmed
        tokens back to the context length with the padding id 0 first (what ``heads.trimmed`` removed).
        """
        if not self.causal and tokens.shape[1] < self.context_length:
            tokens = jnp.pad(tokens, ((0, 0), (0, self.context_length - tokens.shape[1])))  # 0: the padding id
        length = tokens.shape[1]
        embedding = self.param("token_embedding", nn.initializers.zeros, (self.vocab_size, self.width), jnp.float32)
        pos = self.param("positional_embedding", nn.initializers.zeros, (self.context_length, self.width),
                         jnp.float32)
        x = (jnp.take(embedding, tokens, axis=0) + pos[:length]).astype(self.dtype)
        mask = jnp.where(jnp.tril(jnp.ones((length, length), bool)), 0.0, -jnp.inf) if self.causal else None
        for i in range(self.layers):
            x = ResidualBlock(self.heads, self.quick_gelu, dtype=self.dtype, ln_eps=self.ln_eps,
                              tanh_gelu=self.tanh_gelu, name=f"blocks_{i}")(x, mask)
        x = layers.layer_norm(self.ln_eps, self.dtype, name="ln_final")(x)
        if self.pool == "last":
            x = x[:, -1]
        else:
            x = x[jnp.arange(x.shape[0]), jnp.argmax(tokens, axis=-1)]  # the end-of-text id is the largest id
        if self.proj_bias:
            return layers.dense(self.embed_dim, self.dtype, name="text_projection")(x)
        proj = self.param("text_projection", nn.initializers.zeros, (self.width, self.embed_dim), jnp.float32)
        return x @ proj.astype(self.dtype)


def l2_normalize(x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


class CLIP(nn.Module):
    """Images (normalised NHWC) -> 100 * cosine similarity with the zero-shot head's class embeddings."""

    embed_dim: int
    vision: tuple[tuple[str, Any], ...]
    text: tuple[tuple[str, Any], ...]
    quick_gelu: bool
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    def setup(self):
        vision = dict(self.vision)
        tower = vision.pop("tower", None)
        if tower == "fastvit":  # MobileCLIP-S1/S2: its classifier is the image projection
            self.visual = fastvit.FastVit(num_classes=self.embed_dim, dtype=self.dtype, **vision)
        elif tower == "timm_vit":  # MobileCLIP-B: timm's ViT with its conv stem, the classifier as projection
            self.visual = vit.VisionTransformer(num_classes=self.embed_dim, dtype=self.dtype, **vision)
        elif "stage_blocks" in vision:
            self.visual = ModifiedResNet(embed_dim=self.embed_dim, dtype=self.dtype, **vision)
        elif "depths" in vision:
            self.visual = ConvNeXtTower(embed_dim=self.embed_dim, dtype=self.dtype, **vision)
        else:
            self.visual = VisionTransformer(embed_dim=self.embed_dim, quick_gelu=self.quick_gelu, dtype=self.dtype,
                                            **vision)
        self.transformer = TextTransformer(embed_dim=self.embed_dim, quick_gelu=self.quick_gelu, dtype=self.dtype,
                                           **dict(self.text))
        self.zeroshot_head = self.param("zeroshot_head", nn.initializers.zeros, (self.embed_dim, self.num_classes),
                                        jnp.float32)

    def encode_image(self, images: jax.Array) -> jax.Array:
        return self.visual(images)

    def encode_text(self, tokens: jax.Array) -> jax.Array:
        return self.transformer(tokens)

    def image_embedding(self, images: jax.Array) -> jax.Array:
        """The L2-normalised image features (what the zero-shot head and the error study's chooser compare)."""
        return l2_normalize(self.encode_image(images))

    def __call__(self, images: jax.Array) -> jax.Array:
        if self.is_initializing():  # create the text tower's parameters too (the classifier path does not use it)
            self.encode_text(jnp.zeros((1, dict(self.text)["context_length"]), jnp.int32))
        return ZERO_SHOT_SCALE * self.image_embedding(images) @ self.zeroshot_head


def build(dtype=jnp.float32, **config) -> CLIP:
    return CLIP(dtype=dtype, **config)


register_family("clip", build, converter="converters.clip:convert")


# --- registry --------------------------------------------------------------------------------------------------------

def _text(width: int = 512, layers_: int = 12, heads: int = 8, causal: bool = True) -> tuple[tuple[str, Any], ...]:
    extra = {} if causal else {"causal": False}
    return zoo.config(width=width, layers=layers_, heads=heads, context_length=77, vocab_size=49408, **extra)


def _vit(width: int, layers_: int, patch: int, size: int) -> tuple[tuple[str, Any], ...]:
    return zoo.config(width=width, layers=layers_, patch_size=patch, image_size=size)


def _convnext(size: str, proj: str, image_size: int) -> tuple[tuple[str, Any], ...]:
    depths, dims = {"base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
                    "large": ((3, 3, 27, 3), (192, 384, 768, 1536))}[size]
    return zoo.config(depths=depths, dims=dims, proj=proj, image_size=image_size)


def _data(size: int, inception_norm: bool = False) -> zoo.DataConfig:
    # open_clip's eval preprocessing: shorter side to the input size (bicubic), centre crop, the training's mean/std.
    if inception_norm:
        return zoo.DataConfig(size, 1.0, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD)
    return zoo.DataConfig(size, 1.0, "bicubic", OPENAI_MEAN, OPENAI_STD)


_INCEPTION_NORM = {"clip_vit_l14.laion2b_s32b_b82k"}  # trained with mean = std = 0.5 (open_clip's pretrained cfg)


def _mobileclip_data(size: int) -> zoo.DataConfig:
    """MobileCLIP reads the [0, 1] image (no normalisation), resized bilinearly: open_clip's pretrained cfg and
    Apple's ``mobileclip.create_model_and_transforms`` (Resize, CenterCrop, ToTensor), which the peer used."""
    return zoo.DataConfig(size, 1.0, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


_ARCHS = {  # open_clip architecture -> (embed_dim, vision config, text config, input size)
    "RN50": (1024, zoo.config(stage_blocks=(3, 4, 6, 3), width=64, image_size=224), _text(), 224),
    "RN101": (512, zoo.config(stage_blocks=(3, 4, 23, 3), width=64, image_size=224), _text(), 224),
    "ViT-B-32": (512, _vit(768, 12, 32, 224), _text(), 224),
    "ViT-B-16": (512, _vit(768, 12, 16, 224), _text(), 224),
    "ViT-L-14": (768, _vit(1024, 24, 14, 224), _text(768, 12, 12), 224),
    "ViT-L-14-336": (768, _vit(1024, 24, 14, 336), _text(768, 12, 12), 336),
    # timm's convnext_large / convnext_base trunks (see ConvNeXtTower); "_d": MLP projection and a 16-layer text tower,
    # "_w": a wider (640) text tower; the suffix is the training resolution.
    "convnext_large_d": (768, _convnext("large", "mlp", 256), _text(768, 16, 12), 256),
    "convnext_large_d_320": (768, _convnext("large", "mlp", 320), _text(768, 16, 12), 320),
    "convnext_base_w_320": (640, _convnext("base", "linear", 320), _text(640, 12, 10), 320),
    # MobileCLIP-S1/S2: FastViT MCi1/MCi2 image towers (timm fastvit_mci1/2, reparameterised: models/fastvit.py)
    # and a bidirectional text transformer.
    "MobileCLIP-S1": (512, zoo.config(tower="fastvit", **dict(fastvit.mci_config((4, 12, 20, 4), (64, 128, 256, 512)))),
                      _text(causal=False), 256),
    "MobileCLIP-S2": (512, zoo.config(tower="fastvit", **dict(fastvit.mci_config((4, 12, 24, 4), (80, 160, 320, 640)))),
                      _text(causal=False), 256),
    # MobileCLIP-B: timm's vit_base_mci_224 (ViT-B/16, position embedding on the patches only, convolutional stem).
    "MobileCLIP-B": (512, zoo.config(tower="timm_vit", patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                     img_size=224, no_embed_class=True, mci_stem=True), _text(), 224),
}

# (jaxquba name, open_clip architecture, quick_gelu, hub id, parameter count (image + text towers), aliases)
_MODELS = (
    ("clip_rn50.openai", "RN50", True, "timm/resnet50_clip.openai", 102_007_137, ("clip_rn50",)),
    ("clip_rn101.openai", "RN101", True, "timm/resnet101_clip.openai", 119_688_033, ("clip_rn101",)),
    ("clip_vit_b32.openai", "ViT-B-32", True, "timm/vit_base_patch32_clip_224.openai", 151_277_313,
     ("clip_vit_b32",)),
    ("clip_vit_b16.openai", "ViT-B-16", True, "timm/vit_base_patch16_clip_224.openai", 149_620_737,
     ("clip_vit_b16",)),
    ("clip_vit_l14.openai", "ViT-L-14", True, "timm/vit_large_patch14_clip_224.openai", 427_616_513,
     ("clip_vit_l14",)),
    ("clip_vit_l14_336.openai", "ViT-L-14-336", True, "timm/vit_large_patch14_clip_336.openai", 427_944_193,
     ("clip_vit_l14_336",)),
    ("clip_vit_b16.laion2b_s34b_b88k", "ViT-B-16", False, "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", 149_620_737,
     ("clip_b16_laion2b",)),
    ("clip_vit_l14.laion2b_s32b_b82k", "ViT-L-14", False, "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", 427_616_513,
     ("clip_l14_laion2b",)),
    ("clip_vit_b16.datacomp_xl_s13b_b90k", "ViT-B-16", False, "laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K",
     149_620_737, ("clip_b16_datacomp",)),
    ("clip_vit_l14.datacomp_xl_s13b_b90k", "ViT-L-14", False, "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K",
     427_616_513, ("clip_l14_datacomp",)),
    ("clip_vit_b16.dfn2b", "ViT-B-16", True, "apple/DFN2B-CLIP-ViT-B-16", 149_620_737, ("clip_b16_dfn2b",)),
    ("clip_vit_l14.dfn2b", "ViT-L-14", True, "apple/DFN2B-CLIP-ViT-L-14", 427_616_513, ("clip_l14_dfn2b",)),
    ("clip_vit_b16.metaclip_2pt5b", "ViT-B-16", True, "timm/vit_base_patch16_clip_224.metaclip_2pt5b",
     149_620_737, ("clip_b16_metaclip",)),
    ("clip_vit_l14.metaclip_2pt5b", "ViT-L-14", True, "timm/vit_large_patch14_clip_224.metaclip_2pt5b",
     427_616_513, ("clip_l14_metaclip",)),
    # OpenCLIP ConvNeXt towers (published rows 297, 300, 301; the peer's hf-hub names). Counts: open_clip's models,
    # logit_scale included as for the rows above (351,772,609 = 199,770,816 image + 152,001,793 text and scale).
    ("clip_convnext_large_d.laion2b_s26b_b102k_augreg", "convnext_large_d", False,
     "laion/CLIP-convnext_large_d.laion2B-s26B-b102K-augreg", 351_772_609, ("clip_convnext_large_d",)),
    ("clip_convnext_base_w_320.laion_aesthetic_s13b_b82k_augreg", "convnext_base_w_320", False,
     "laion/CLIP-convnext_base_w_320-laion_aesthetic-s13B-b82K-augreg", 179_385_345, ("clip_convnext_base_w_320",)),
    ("clip_convnext_large_d_320.laion2b_s29b_b131k_ft_soup", "convnext_large_d_320", False,
     "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup", 351_772_609, ("clip_convnext_large_d_320",)),
    # MobileCLIP: the count of the reparameterised model the peer evaluated (Apple's create_model_and_transforms
    # fuses the branches), which the published Params column shows; see REPARAMETERISED_AWAY.
    ("mobileclip_s1.datacompdr", "MobileCLIP-S1", False, "apple/MobileCLIP-S1-OpenCLIP", 84_889_153,
     ("mobileclip_s1",)),
    ("mobileclip_s2.datacompdr", "MobileCLIP-S2", False, "apple/MobileCLIP-S2-OpenCLIP", 99_131_089,
     ("mobileclip_s2",)),
    ("mobileclip_b.datacompdr", "MobileCLIP-B", False, "apple/MobileCLIP-B-OpenCLIP", 149_777_153,
     ("mobileclip_b",)),
    ("mobileclip_b.datacompdr_lt", "MobileCLIP-B", False, "apple/MobileCLIP-B-LT-OpenCLIP", 149_777_153,
     ("mobileclip_blt",)),
)

# Parameters of the training-time branches (open_clip's model and its checkpoints) that the reparameterisation
# removes: open_clip's count minus a spec's ``num_params``.
REPARAMETERISED_AWAY = {"mobileclip_s1.datacompdr": 80_576, "mobileclip_s2.datacompdr": 112_240}

OPEN_CLIP_ARCH: dict[str, str] = {}  # jaxquba name -> open_clip architecture (for references and parity)

for _name, _arch, _quick, _hub, _params, _aliases in _MODELS:
    _embed, _vision, _text_cfg, _size = _ARCHS[_arch]
    OPEN_CLIP_ARCH[_name] = _arch + ("-quickgelu" if _quick else "")
    _spec_data = _mobileclip_data(_size) if _arch.startswith("MobileCLIP") else _data(_size, _name in _INCEPTION_NORM)
    zoo.register(zoo.ModelSpec(
        name=_name, family="clip", data=_spec_data, num_params=_params, aliases=_aliases, hf_hub_id=_hub,
        config=zoo.config(embed_dim=_embed, vision=_vision, text=_text_cfg, quick_gelu=_quick),
        hf_files=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), output="probs"))


# --- SigLIP / SigLIP 2 ------------------------------------------------------------------------------------------------

SIGLIP_LN_EPS = 1e-6  # both towers (timm's ViT default; open_clip's SigLIP text configs set norm eps 1e-6)


class SigLIP(nn.Module):
    """Images (normalised NHWC) -> ``exp(logit_scale) * cosine + logit_bias`` with the zero-shot head's classes.

    ``vision``: timm ViT config (``patch_size``, ``embed_dim`` = tower width = ``embed_dim`` here, ``depth``,
    ``num_heads``, ``img_size``); ``text``: :class:`TextTransformer` config (``tanh_gelu`` for SigLIP 2).
    """

    embed_dim: int
    vision: tuple[tuple[str, Any], ...]
    text: tuple[tuple[str, Any], ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    def setup(self):
        self.visual = vit.VisionTransformer(class_token=False, global_pool="map", num_classes=0, dtype=self.dtype,
                                            **dict(self.vision))
        self.transformer = TextTransformer(embed_dim=self.embed_dim, quick_gelu=False, causal=False, pool="last",
                                           proj_bias=True, ln_eps=SIGLIP_LN_EPS, dtype=self.dtype, **dict(self.text))
        self.zeroshot_head = self.param("zeroshot_head", nn.initializers.zeros, (self.embed_dim, self.num_classes),
                                        jnp.float32)
        self.logit_scale = self.param("logit_scale", nn.initializers.zeros, (), jnp.float32)
        self.logit_bias = self.param("logit_bias", nn.initializers.zeros, (), jnp.float32)

    def encode_image(self, images: jax.Array) -> jax.Array:
        return self.visual(images)

    def encode_text(self, tokens: jax.Array) -> jax.Array:
        return self.transformer(tokens)

    def __call__(self, images: jax.Array) -> jax.Array:
        if self.is_initializing():
            self.encode_text(jnp.zeros((1, dict(self.text)["context_length"]), jnp.int32))
        features = l2_normalize(self.encode_image(images))
        return jnp.exp(self.logit_scale) * (features @ self.zeroshot_head) + self.logit_bias


def build_siglip(dtype=jnp.float32, **config) -> SigLIP:
    return SigLIP(dtype=dtype, **config)


register_family("siglip", build_siglip, converter="converters.clip:convert_siglip")

# open_clip's eval preprocessing of its SigLIP weights (``_slpcfg``): both sides resized to the input size
# ("squash", bicubic), no crop, mean = std = 0.5.
SIGLIP_DATA = zoo.DataConfig(256, 1.0, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD, crop_mode="squash")


def _siglip_text(width: int, layers_: int, heads: int, vocab_size: int, tanh_gelu: bool):
    return zoo.config(width=width, layers=layers_, heads=heads, context_length=64, vocab_size=vocab_size,
                      tanh_gelu=tanh_gelu)


def _siglip_vision(width: int, depth: int, heads: int):
    return zoo.config(patch_size=16, embed_dim=width, depth=depth, num_heads=heads, img_size=256)


_B, _L = (768, 12, 12), (1024, 24, 16)

# The peer's rows (quba_constants.SIGLIP_MODELS / SIGLIP2_MODELS): open_clip ``create_model_from_pretrained`` and
# ``get_tokenizer`` of ``hf-hub:timm/<arch>``. Its "ViT-B-16-SigLIP2" row loads ViT-B-16-SigLIP2-256 (the 256 px
# model), like the other three. (jaxquba name, open_clip arch, vision, text, parameter count (both towers, scale
# and bias; open_clip's count), aliases)
_SIGLIP_MODELS = (
    ("siglip_vit_b16_256.webli", "ViT-B-16-SigLIP-256", _B, _siglip_text(*_B, 32000, False), 203_202_050,
     ("siglip_b16",)),
    ("siglip_vit_l16_256.webli", "ViT-L-16-SigLIP-256", _L, _siglip_text(*_L, 32000, False), 652_150_786,
     ("siglip_l16",)),
    ("siglip2_vit_b16_256.webli", "ViT-B-16-SigLIP2-256", _B, _siglip_text(*_B, 256000, True), 375_234_050,
     ("siglip2_b16",)),
    ("siglip2_vit_l16_256.webli", "ViT-L-16-SigLIP2-256", _L, _siglip_text(*_L, 256000, True), 881_526_786,
     ("siglip2_l16",)),
)

for _name, _arch, _vision, _text_cfg, _params, _aliases in _SIGLIP_MODELS:
    OPEN_CLIP_ARCH[_name] = _arch
    zoo.register(zoo.ModelSpec(
        name=_name, family="siglip", data=SIGLIP_DATA, num_params=_params, aliases=_aliases,
        hf_hub_id=f"timm/{_arch}", config=zoo.config(embed_dim=_vision[0], vision=_siglip_vision(*_vision),
                                                     text=_text_cfg),
        hf_files=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), output="sigmoid_probs"))
