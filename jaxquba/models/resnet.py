"""ResNet family (He et al. 2016) as timm's ``resnet`` builds it: the torchvision layout, v1.5 (stride in the 3x3).

Basic blocks (ResNet-18/34) and bottleneck blocks (ResNet-50/101/152); stem 7x7/2 conv + 3x3/2 max pool; a 1x1
strided conv + batch norm projects the shortcut where the shape changes. The same layout serves timm's own recipes
(``a1_in1k`` ...), the torchvision weights (``tv_in1k``, ``tv2_in1k``) and the Facebook semi-/weakly-supervised ones.

The same module builds the variants timm's ``ResNet`` class builds from its arguments (config keys in brackets):
ResNeXt (grouped 3x3: ``cardinality``, ``base_width``), Wide ResNet (``base_width`` 128), ResNet-D (three-conv
``deep`` stem of ``stem_width``, average-pool shortcut ``avg_down``) and SENet-154 (deep stem, 3x3 strided shortcut
``down_kernel``, first 1x1 halved ``reduce_first``, squeeze-and-excitation after the last batch norm ``se``).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5  # PyTorch BatchNorm2d default


class SqueezeExcite(nn.Module):
    """timm's ``SEModule``: global mean -> 1x1 conv (``fc1``) -> ReLU -> 1x1 conv (``fc2``) -> sigmoid gate."""

    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        reduced = max(8, int(channels / 16 + 4) // 8 * 8)  # timm's make_divisible(channels / 16, 8, round_limit=0)
        s = x.mean(axis=(1, 2), keepdims=True)
        s = nn.relu(layers.conv(reduced, 1, dtype=self.dtype, name="fc1")(s))
        s = layers.conv(channels, 1, dtype=self.dtype, name="fc2")(s)
        return x * jax.nn.sigmoid(s)


class BasicBlock(nn.Module):
    width: int
    stride: int
    dtype: layers.Dtype
    shortcut: dict

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = layers.conv(self.width, 3, self.stride, 1, use_bias=False, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(y))
        y = layers.conv(self.width, 3, 1, 1, use_bias=False, dtype=self.dtype, name="conv2")(y)
        y = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn2")(y)
        return nn.relu(y + _shortcut(x, self.width, self.stride, self.dtype, **self.shortcut))


class Bottleneck(nn.Module):
    planes: int
    stride: int
    dtype: layers.Dtype
    shortcut: dict
    cardinality: int = 1
    base_width: int = 64
    reduce_first: int = 1
    se: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = int(math.floor(self.planes * (self.base_width / 64)) * self.cardinality)
        y = layers.conv(width // self.reduce_first, 1, use_bias=False, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(y))
        y = layers.conv(width, 3, self.stride, 1, groups=self.cardinality, use_bias=False, dtype=self.dtype,
                        name="conv2")(y)
        y = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn2")(y))
        y = layers.conv(self.planes * 4, 1, use_bias=False, dtype=self.dtype, name="conv3")(y)
        y = layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn3")(y)
        if self.se:
            y = SqueezeExcite(self.dtype, name="se")(y)
        return nn.relu(y + _shortcut(x, self.planes * 4, self.stride, self.dtype, **self.shortcut))


def _shortcut(x: jax.Array, features: int, stride: int, dtype: layers.Dtype, avg_down: bool = False,
              down_kernel: int = 1) -> jax.Array:
    """Identity, or a projection (``downsample``) when the block changes shape: a strided ``down_kernel`` conv +
    batch norm, or (``avg_down``, ResNet-D) a 2x2 average pool (ceil mode, padding not counted) + 1x1 conv + batch
    norm. Called inside a block's compact ``__call__``, so its submodules are named within that block."""
    if stride == 1 and x.shape[-1] == features:
        return x
    if avg_down:
        if stride > 1:
            pad = ((0, x.shape[1] % 2), (0, x.shape[2] % 2))  # ceil_mode: a last odd row/column is its own window
            x = nn.avg_pool(x, (2, 2), (stride, stride), pad, count_include_pad=False)
        x = layers.conv(features, 1, use_bias=False, dtype=dtype, name="downsample_conv")(x)
    else:
        kernel = 1 if stride == 1 else down_kernel
        x = layers.conv(features, kernel, stride, ((stride - 1) + (kernel - 1)) // 2, use_bias=False, dtype=dtype,
                        name="downsample_conv")(x)
    return layers.FrozenBatchNorm(BN_EPS, dtype, name="downsample_bn")(x)


class ResNet(nn.Module):
    """Normalised NHWC images -> logits."""

    block: str  # 'basic' | 'bottleneck'
    depths: tuple[int, ...]
    num_classes: int = 1000
    cardinality: int = 1
    base_width: int = 64
    stem: str = ""  # '' (7x7 conv) | 'deep' (three 3x3 convs: stem_width, stem_width, 2 * stem_width)
    stem_width: int = 64
    avg_down: bool = False
    down_kernel: int = 1
    reduce_first: int = 1
    se: bool = False
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = images.astype(self.dtype)
        if self.stem == "deep":  # timm's Sequential conv1: indices 0 (conv), 1 (bn), 3, 4, 6
            for i, (index, features) in enumerate(((0, self.stem_width), (3, self.stem_width))):
                x = layers.conv(features, 3, 2 if i == 0 else 1, 1, use_bias=False, dtype=self.dtype,
                                name=f"conv1_{index}")(x)
                x = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name=f"conv1_{index + 1}")(x))
            x = layers.conv(2 * self.stem_width, 3, 1, 1, use_bias=False, dtype=self.dtype, name="conv1_6")(x)
        else:
            x = layers.conv(64, 7, 2, 3, use_bias=False, dtype=self.dtype, name="conv1")(x)
        x = nn.relu(layers.FrozenBatchNorm(BN_EPS, self.dtype, name="bn1")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        shortcut = {"avg_down": self.avg_down, "down_kernel": self.down_kernel}
        for stage, depth in enumerate(self.depths):
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                name = f"layer{stage + 1}_{i}"
                if self.block == "basic":
                    x = BasicBlock(64 * 2 ** stage, stride, self.dtype, shortcut, name=name)(x)
                else:
                    x = Bottleneck(64 * 2 ** stage, stride, self.dtype, shortcut, self.cardinality, self.base_width,
                                   self.reduce_first, self.se, name=name)(x)
        x = x.mean(axis=(1, 2))
        return layers.dense(self.num_classes, self.dtype, name="fc")(x)


def build(dtype=jnp.float32, **config) -> ResNet:
    return ResNet(dtype=dtype, **config)


register_family("resnet", build, converter="converters.resnet:convert")


# --- registry --------------------------------------------------------------------------------------------------------

_BOTTLENECK_50 = ("bottleneck", (3, 4, 6, 3))
_BOTTLENECK_101 = ("bottleneck", (3, 4, 23, 3))
_ARCHS = {  # arch -> (block, depths, variant config, timm parameter count)
    "resnet18": ("basic", (2, 2, 2, 2), {}, 11_689_512),
    "resnet34": ("basic", (3, 4, 6, 3), {}, 21_797_672),
    "resnet50": (*_BOTTLENECK_50, {}, 25_557_032),
    "resnet101": (*_BOTTLENECK_101, {}, 44_549_160),
    "resnet152": ("bottleneck", (3, 8, 36, 3), {}, 60_192_808),
    "resnet50d": (*_BOTTLENECK_50, dict(stem="deep", stem_width=32, avg_down=True), 25_576_264),
    "resnext50_32x4d": (*_BOTTLENECK_50, dict(cardinality=32, base_width=4), 25_028_904),
    "resnext101_32x8d": (*_BOTTLENECK_101, dict(cardinality=32, base_width=8), 88_791_336),
    "resnext101_64x4d": (*_BOTTLENECK_101, dict(cardinality=64, base_width=4), 83_455_272),
    "wide_resnet50_2": (*_BOTTLENECK_50, dict(base_width=128), 68_883_240),
    "wide_resnet101_2": (*_BOTTLENECK_101, dict(base_width=128), 126_886_696),
    "senet154": ("bottleneck", (3, 8, 36, 3), dict(cardinality=64, base_width=4, stem="deep", stem_width=64,
                                                   down_kernel=3, reduce_first=2, se=True), 115_088_984),
}
# timm's ResNet strikes back recipes (Wightman et al. 2021): A1/A2 at 224, A3 at 160, all crop 0.95.
_RSB_224 = zoo.DataConfig(224, 0.95, "bicubic")
_RSB_160 = zoo.DataConfig(160, 0.95, "bicubic")
_TORCHVISION = zoo.DataConfig(224, 0.875, "bilinear")  # also the FB SSL / SWSL weights
_TORCHVISION2 = zoo.DataConfig(176, 0.875, "bilinear")  # torchvision's "new recipe" (IMAGENET1K_V2) eval cfg in timm
_GLUON = zoo.DataConfig(224, 0.875, "bicubic")
_RSB = (("a1_in1k", _RSB_224, ()), ("a2_in1k", _RSB_224, ()), ("a3_in1k", _RSB_160, ()))
_SSL = (("fb_ssl_yfcc100m_ft_in1k", _TORCHVISION, ()), ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ()))

_TAGS = {  # arch -> ((tag, data config, aliases), ...); the first tag is timm's default for the arch where registered
    "resnet18": (("a1_in1k", _RSB_224, ("rn18",)), ("tv_in1k", _TORCHVISION, ("rn18_tv",)),
                 ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ()), ("fb_ssl_yfcc100m_ft_in1k", _TORCHVISION, ()),
                 *_RSB[1:]),
    "resnet34": (("a1_in1k", _RSB_224, ("rn34",)), ("tv_in1k", _TORCHVISION, ("rn34_tv",)), *_RSB[1:]),
    "resnet50": (("a1_in1k", _RSB_224, ("rn50",)), ("a2_in1k", _RSB_224, ("rn50_a2",)),
                 ("a3_in1k", _RSB_160, ("rn50_a3",)), ("tv_in1k", _TORCHVISION, ("rn50_tv",)),
                 ("tv2_in1k", _TORCHVISION2, ("rn50_tv2",)), ("gluon_in1k", _GLUON, ()),
                 ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ("rn50_swsl",)),
                 ("fb_ssl_yfcc100m_ft_in1k", _TORCHVISION, ("rn50_ssl",))),
    "resnet101": (("a1h_in1k", _RSB_224, ("rn101",)), ("tv_in1k", _TORCHVISION, ("rn101_tv",)),
                  ("tv2_in1k", _TORCHVISION2, ()), *_RSB),
    "resnet152": (("a1h_in1k", _RSB_224, ("rn152",)), ("tv_in1k", _TORCHVISION, ("rn152_tv",)),
                  ("tv2_in1k", _TORCHVISION2, ()), *_RSB),
    "resnet50d": (("gluon_in1k", _GLUON, ()), *_RSB),
    "resnext50_32x4d": (("tv_in1k", _TORCHVISION, ()), *_RSB, ("gluon_in1k", _GLUON, ()), *_SSL),
    "resnext101_32x8d": (("tv_in1k", _TORCHVISION, ()), ("fb_swsl_ig1b_ft_in1k", _TORCHVISION, ())),
    "resnext101_64x4d": (("tv_in1k", _TORCHVISION, ()),),
    "wide_resnet50_2": (("tv_in1k", _TORCHVISION, ()),),
    "wide_resnet101_2": (("tv_in1k", _TORCHVISION, ()),),
    "senet154": (("gluon_in1k", _GLUON, ()),),
}

# RSB checkpoints that timm has no tag for (the published table's SENet-154 A1/A2/A3): GitHub release files.
_RSB_RELEASE = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_RELEASE_TAGS = {  # arch -> ((tag, data config, file), ...)
    "senet154": (("a1_in1k", _GLUON, "gluon_senet154_a1_0-ef9d383e.pth"),
                 ("a2_in1k", _GLUON, "gluon_senet154_a2_0-63cb3b08.pth"),
                 ("a3_in1k", _GLUON, "gluon_senet154_a3_0-d8df0fde.pth")),
}

for _arch, (_block, _depths, _variant, _num_params) in _ARCHS.items():
    _config = zoo.config(block=_block, depths=_depths, **_variant)
    for _tag, _data, _aliases in _TAGS[_arch]:
        zoo.register(zoo.ModelSpec(name=f"{_arch}.{_tag}", family="resnet", config=_config, data=_data,
                                   num_params=_num_params, aliases=_aliases, hf_hub_id=f"timm/{_arch}.{_tag}"))
    for _tag, _data, _file in _RELEASE_TAGS.get(_arch, ()):
        zoo.register(zoo.ModelSpec(name=f"{_arch}.{_tag}", family="resnet", config=_config, data=_data,
                                   num_params=_num_params, url=_RSB_RELEASE + _file))

# The published table's DINO ResNet-50 rows, known by their published names only (the peer's model loading code):
# ResNet50-DINO-LP is DINO's self-supervised ResNet-50 (torch.hub facebookresearch/dino dino_resnet50, torchvision's
# layout) with DINO's released linear classifier as ``fc``; ResNet50-DINO-FT is the peer's own fine-tune of it,
# never published. Both read images as the peer feeds them: Resize 256 bicubic, CenterCrop 224, ImageNet mean/std.
for _name in ("ResNet50-DINO-LP", "ResNet50-DINO-FT"):
    zoo.register(zoo.ModelSpec(name=_name, family="resnet", config=zoo.config(block="bottleneck", depths=(3, 4, 6, 3)),
                               data=_GLUON, num_params=_ARCHS["resnet50"][3]))


# RobustBench's adversarially trained ResNets (Salman et al. 2020, ImageNet Linf; published Salman2020Do-RN50 and
# Salman2020Do-RN50-2): torchvision's resnet50 / wide_resnet50_2 behind RobustBench's ImageNet normaliser
# (``Sequential(normalize, model)``, ImageNet mean/std), Resize 256 (bilinear) -> crop 224. Family resnet_robustbench
# reads the model under ``model.`` and checks the normaliser (converters/robustbench.py). Weights: Google Drive files
# RobustBench downloads; --weights=PATH of RobustBench's loaded model's state_dict.
register_family("resnet_robustbench", build, converter="converters.robustbench:convert_resnet",
                normalizes_inside=True)
for _published, _robustbench, _arch in (("Salman2020Do-RN50", "Salman2020Do_R50", "resnet50"),
                                        ("Salman2020Do-RN50-2", "Salman2020Do_50_2", "wide_resnet50_2")):
    _block, _depths, _variant, _num_params = _ARCHS[_arch]
    zoo.register(zoo.ModelSpec(name=_published, family="resnet_robustbench",
                               config=zoo.config(block=_block, depths=_depths, **_variant), data=_TORCHVISION,
                               num_params=_num_params, aliases=(_robustbench,)))
