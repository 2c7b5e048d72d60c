"""B-cos networks (Böhle et al., "B-cos Networks: Alignment is All We Need for Interpretability"), as the ``bcos``
package (PyPI 0.1.3, the reference code) builds its ImageNet ResNets, DenseNets, ConvNeXts and simple ViT.

A B-cos layer replaces ``w^T x`` by ``|cos(x, w)|^(B-1) * (ŵ^T x)`` with a unit-norm weight ``ŵ``; every model here
uses B = 2, so the output is ``|ŵ^T x| / ||x|| * (ŵ^T x)`` (:func:`bcos_conv`; ``||x||`` is the norm of the input
patch under the kernel, ``sqrt(sum x^2 + 1e-6)`` with zero padding counted). There are no ReLUs: the alignment
scaling is the non-linearity. Normalisation is the package's uncentered batch norm without bias
(``NoBias(BatchNormUncentered2d)``: ``x / sqrt(running_var + eps) * weight``, the running mean unused), pooling is
average pooling (the stem's 3x3/2 pool counts padding, as ``nn.AvgPool2d`` does), the classifier is a 1x1 B-cos
convolution applied *before* global average pooling, and the logits get the fixed bias ``-log(num_classes - 1)``
(``LogitLayer``). The ConvNeXts use the package's position norm instead (a layer norm over the channels at each
position, weight only) and a depthwise 7x7 B-cos conv, whose ``||x||`` is taken per channel group. The simple ViT
has B-cos linear maps everywhere except the attention's qkv projection, layer norms without bias, fixed 2-D sin-cos
positions and no activation.

Input encoding. B-cos models read six channels ``[x, 1 - x]`` of the image ``x`` in [0, 1]
(``bcos.data.transforms.AddInverse``), not a mean/std normalised tensor; the QUBA peer puts ``AddInverse`` at the
end of its host transform (Resize 256 bilinear, CenterCrop 224, ToTensor, AddInverse). Here every module reads the
six channels, the families register :func:`add_inverse` as their ``input_encoding`` and the specs have mean 0 and
std 1, so :func:`jaxquba.models.network_input` is the peer's transform output and the views act on the image:

* corruptions, filters and band noise change the 3-channel image before the encoding, as in the peer (ImageNet-C
  files go through the transform);
* ``quba_paper``'s attacks (space ``network_input``) perturb the six channels, ``x`` and ``1 - x`` independently, each
  by up to epsilon and each clamped to [0, 1], as the peer's torchattacks did: the published threat model, which
  contains the image's (a pixel perturbation ``d`` is the six-channel ``(d, -d)``) and is larger;
* ``pixel`` attacks perturb the 3-channel image and encode the result, the corrected protocol's threat model (an
  adversarial input not of the form ``[x', 1 - x']`` is no image at all).

``tests/test_bcos.py`` checks the logits against the package's PyTorch models and both attacks' perturbations.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-5  # PyTorch BatchNorm2d default, which BatchNormUncentered2d keeps
PATCH_NORM_EPS = 1e-6  # BcosConv2d.calc_patch_norms' stabilising term under the square root

# The package's eval preprocessing (ImageNetClassificationPresetEval, and the peer's BCOS_TRANSFORM): Resize 256
# bilinear, CenterCrop 224, no Normalize (mean 0, std 1: the model encodes [x, 1 - x] itself, see above).
DATA = zoo.DataConfig(224, 0.875, "bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

RELEASE = "https://github.com/B-cos/B-cos-v2/releases/download/v0.0.1-weights"  # bcos.models.pretrained.BASE


def add_inverse(images: jax.Array) -> jax.Array:
    """``[x, 1 - x]`` on the channel axis (``bcos.data.transforms.AddInverse``, NHWC)."""
    return jnp.concatenate([images, 1 - images], axis=-1)


class BcosConv(nn.Module):
    """``BcosConv2d`` with B = 2 and one MaxOut unit: a unit-norm-kernel convolution scaled by ``|cos|``."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dtype: layers.Dtype = jnp.float32
    groups: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s, p, g = self.kernel, self.stride, self.padding, self.groups
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1] // g, self.features),
                            jnp.float32)
        unit = kernel / jnp.sqrt(jnp.sum(kernel * kernel, axis=(0, 1, 2), keepdims=True))
        if g == x.shape[-1] == self.features:  # depthwise (the B-cos ConvNeXts): shifted slices on CPU
            out = layers.depthwise_conv(x, unit.astype(self.dtype), (s, s), ((p, p), (p, p)))
        else:
            out = jax.lax.conv_general_dilated(x, unit.astype(self.dtype), (s, s), ((p, p), (p, p)),
                                               dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=g)
        # ||x|| per output position and group: the sum of squares over the window (the group's channels and the
        # taps, zero padding counted), in float32; each output channel divides by its group's norm.
        x32 = x.astype(jnp.float32)
        squares = jnp.sum(jnp.square(x32).reshape(*x.shape[:-1], g, x.shape[-1] // g), axis=-1)
        window = jax.lax.reduce_window(squares, 0.0, jax.lax.add, (1, k, k, 1), (1, s, s, 1),
                                       ((0, 0), (p, p), (p, p), (0, 0)))
        norm = jnp.repeat(jnp.sqrt(window + PATCH_NORM_EPS), self.features // g, axis=-1)
        out32 = out.astype(jnp.float32)
        return (jnp.abs(out32) / norm * out32).astype(self.dtype)


class UncenteredBatchNorm(nn.Module):
    """``NoBias(BatchNormUncentered2d)`` in eval mode: ``x / sqrt(var + eps) * scale`` (no mean, no bias)."""

    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = (x.shape[-1],)
        scale = self.param("scale", nn.initializers.ones, features, jnp.float32)
        var = self.param("var", nn.initializers.ones, features, jnp.float32)
        return x * (scale * jax.lax.rsqrt(var + BN_EPS)).astype(self.dtype)


def _classify(x: jax.Array, num_classes: int, dtype) -> jax.Array:
    """The shared head: 1x1 B-cos conv, global average pool, logit bias ``-log(num_classes - 1)``."""
    x = BcosConv(num_classes, 1, dtype=dtype, name="classifier")(x)
    return x.astype(jnp.float32).mean(axis=(1, 2)) - math.log(num_classes - 1)


class BasicBlock(nn.Module):
    width: int
    stride: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt = self.dtype
        y = UncenteredBatchNorm(dt, name="bn1")(BcosConv(self.width, 3, self.stride, 1, dt, name="conv1")(x))
        y = UncenteredBatchNorm(dt, name="bn2")(BcosConv(self.width, 3, 1, 1, dt, name="conv2")(y))
        return y + _shortcut(x, self.width, self.stride, dt)


class Bottleneck(nn.Module):
    planes: int
    stride: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dt, out = self.dtype, self.planes * 4
        y = UncenteredBatchNorm(dt, name="bn1")(BcosConv(self.planes, 1, dtype=dt, name="conv1")(x))
        y = UncenteredBatchNorm(dt, name="bn2")(BcosConv(self.planes, 3, self.stride, 1, dt, name="conv2")(y))
        y = UncenteredBatchNorm(dt, name="bn3")(BcosConv(out, 1, dtype=dt, name="conv3")(y))
        return y + _shortcut(x, out, self.stride, dt)


def _shortcut(x: jax.Array, out: int, stride: int, dtype) -> jax.Array:
    """Identity, or a 1x1 strided B-cos conv + norm where the shape changes (torchvision's ``downsample``)."""
    if stride == 1 and x.shape[-1] == out:
        return x
    return UncenteredBatchNorm(dtype, name="downsample_bn")(
        BcosConv(out, 1, stride, dtype=dtype, name="downsample_conv")(x))


class BcosResNet(nn.Module):
    """``bcos.models.resnet.BcosResNet``: the six-channel network input ``[x, 1 - x]`` (NHWC) -> logits."""

    block: str  # 'basic' | 'bottleneck'
    depths: tuple[int, ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        dt = self.dtype
        x = BcosConv(64, 7, 2, 3, dt, name="conv1")(inputs.astype(dt))
        x = UncenteredBatchNorm(dt, name="bn1")(x)
        x = nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=True)
        for stage, depth in enumerate(self.depths):
            planes = 64 * 2 ** stage
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                name = f"layer{stage + 1}_{i}"
                if self.block == "basic":
                    x = BasicBlock(planes, stride, dt, name=name)(x)
                else:
                    x = Bottleneck(planes, stride, dt, name=name)(x)
        return _classify(x, self.num_classes, dt)


class BcosDenseNet(nn.Module):
    """``bcos.models.densenet.BcosDenseNet``: torchvision's DenseNet without ReLUs, B-cos convs, uncentered norms,
    an average-pool stem and a 1x1 B-cos conv classifier before the pooling."""

    growth: int
    blocks: tuple[int, ...]
    stem_width: int = 64
    bn_size: int = 4
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        dt = self.dtype
        x = BcosConv(self.stem_width, 7, 2, 3, dt, name="conv0")(inputs.astype(dt))
        x = UncenteredBatchNorm(dt, name="norm0")(x)
        x = nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=True)
        for b, depth in enumerate(self.blocks):
            for i in range(depth):
                p = f"denseblock{b + 1}_denselayer{i + 1}"
                y = BcosConv(self.bn_size * self.growth, 1, dtype=dt, name=f"{p}_conv1")(
                    UncenteredBatchNorm(dt, name=f"{p}_norm1")(x))
                y = BcosConv(self.growth, 3, 1, 1, dt, name=f"{p}_conv2")(UncenteredBatchNorm(dt, name=f"{p}_norm2")(y))
                x = jnp.concatenate([x, y], axis=-1)
            if b < len(self.blocks) - 1:
                p = f"transition{b + 1}"
                x = BcosConv(x.shape[-1] // 2, 1, dtype=dt, name=f"{p}_conv")(UncenteredBatchNorm(dt, name=f"{p}_norm")(x))
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return _classify(UncenteredBatchNorm(dt, name="norm5")(x), self.num_classes, dt)


def position_norm(dtype, name: str) -> nn.LayerNorm:
    """``NoBias(DetachablePositionNorm2d)`` with eps 1e-6: layer norm over the channels at each position, weight
    only (ConvNeXt's norm)."""
    return nn.LayerNorm(epsilon=1e-6, use_bias=False, dtype=dtype, param_dtype=jnp.float32, use_fast_variance=False,
                        name=name)


class ConvNeXtBlock(nn.Module):
    """``CNBlock``: 7x7 depthwise B-cos conv, position norm, 1x1 B-cos convs to 4x and back (no GELU: the B-cos
    transform is the non-linearity), layer scale, residual."""

    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dim, dt = x.shape[-1], self.dtype
        y = BcosConv(dim, 7, 1, 3, dt, groups=dim, name="dwconv")(x)
        y = position_norm(dt, "norm")(y)
        y = BcosConv(4 * dim, 1, dtype=dt, name="pwconv1")(y)
        y = BcosConv(dim, 1, dtype=dt, name="pwconv2")(y)
        return x + layers.LayerScale(name="layer_scale")(y)


class BcosConvNeXt(nn.Module):
    """``bcos.models.convnext.BcosConvNeXt`` with position norms (the ``*_pn`` weights): 4x4/4 stem + norm, stages
    of blocks with norm + 2x2/2 B-cos conv downsampling between them, then norm and the 1x1 B-cos classifier
    before the pooling."""

    depths: tuple[int, ...]
    dims: tuple[int, ...]
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        dt = self.dtype
        x = BcosConv(self.dims[0], 4, 4, dtype=dt, name="stem_conv")(inputs.astype(dt))
        x = position_norm(dt, "stem_norm")(x)
        for stage, (depth, dim) in enumerate(zip(self.depths, self.dims)):
            if stage > 0:
                x = position_norm(dt, f"downsample{stage}_norm")(x)
                x = BcosConv(dim, 2, 2, dtype=dt, name=f"downsample{stage}_conv")(x)
            for i in range(depth):
                x = ConvNeXtBlock(dt, name=f"stage{stage}_{i}")(x)
        return _classify(position_norm(dt, "head_norm")(x), self.num_classes, dt)


class BcosLinear(nn.Module):
    """``BcosLinear`` with B = 2: ``|ŵ^T x| / (||x|| + 1e-12) * (ŵ^T x)``, unit-norm columns ``ŵ``."""

    features: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features), jnp.float32)
        unit = kernel / jnp.sqrt(jnp.sum(kernel * kernel, axis=0, keepdims=True))
        out = (x @ unit.astype(self.dtype)).astype(jnp.float32)
        norm = jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)) + 1e-12
        return (jnp.abs(out) / norm * out).astype(self.dtype)


def token_norm(dtype, name: str) -> nn.LayerNorm:
    """``NoBias(DetachableLayerNorm)``: layer norm over the features, eps 1e-5, weight only (the ViT's norm)."""
    return nn.LayerNorm(epsilon=1e-5, use_bias=False, dtype=dtype, param_dtype=jnp.float32, use_fast_variance=False,
                        name=name)


def sincos_2d(h: int, w: int, dim: int, temperature: float = 10_000.0) -> jax.Array:
    """``PosEmbSinCos2d``: (h * w, dim) = [sin(x w), cos(x w), sin(y w), cos(y w)], ``w = T^-(i / (dim/4 - 1))``."""
    y, x = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    omega = 1.0 / temperature ** (jnp.arange(dim // 4, dtype=jnp.float32) / (dim // 4 - 1))
    y = y.reshape(-1)[:, None] * omega[None, :]
    x = x.reshape(-1)[:, None] * omega[None, :]
    return jnp.concatenate([jnp.sin(x), jnp.cos(x), jnp.sin(y), jnp.cos(y)], axis=1)


class EncoderBlock(nn.Module):
    """``Encoder``: x + to_out(attention(qkv(norm x))), then x + linear2(linear1(norm x)); the qkv projection is
    an ordinary linear map without bias, every other linear map is B-cos, and there is no activation."""

    heads: int
    mlp_dim: int
    dtype: layers.Dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, tokens, dim = x.shape
        dt = self.dtype
        y = token_norm(dt, "attn_norm")(x)
        qkv = layers.dense(3 * dim, dt, use_bias=False, name="qkv")(y).reshape(batch, tokens, 3, self.heads, -1)
        out = layers.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
        x = x + BcosLinear(dim, dt, name="attn_out")(out.reshape(batch, tokens, dim))
        y = BcosLinear(self.mlp_dim, dt, name="linear1")(token_norm(dt, "ff_norm")(x))
        return x + BcosLinear(dim, dt, name="linear2")(y)


class BcosSimpleViT(nn.Module):
    """``bcos.models.vit.SimpleViT`` (B-cos): 6-channel patches -> B-cos linear embedding + fixed 2-D sin-cos
    positions, pre-norm encoder blocks, mean over tokens, norm and a B-cos linear head, the logit bias."""

    patch: int
    dim: int
    depth: int
    heads: int
    mlp_dim: int
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        dt, p = self.dtype, self.patch
        x = inputs.astype(dt)
        n, height, width, c = x.shape
        h, w = height // p, width // p
        # einops "b c (h p1) (w p2) -> b h w (p1 p2 c)" on NHWC
        x = x.reshape(n, h, p, w, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * w, p * p * c)
        x = BcosLinear(self.dim, dt, name="patch_embed")(x) + sincos_2d(h, w, self.dim).astype(dt)
        for i in range(self.depth):
            x = EncoderBlock(self.heads, self.mlp_dim, dt, name=f"encoder_{i}")(x)
        x = BcosLinear(self.num_classes, dt, name="head")(token_norm(dt, "head_norm")(x.mean(axis=1)))
        return x.astype(jnp.float32) - math.log(self.num_classes - 1)


register_family("bcos_resnet", lambda dtype=jnp.float32, **config: BcosResNet(dtype=dtype, **config),
                converter="converters.bcos:convert_resnet", input_encoding=add_inverse)
register_family("bcos_densenet", lambda dtype=jnp.float32, **config: BcosDenseNet(dtype=dtype, **config),
                converter="converters.bcos:convert_densenet", input_encoding=add_inverse)
register_family("bcos_vit", lambda dtype=jnp.float32, **config: BcosSimpleViT(dtype=dtype, **config),
                converter="converters.bcos:convert_vit", input_encoding=add_inverse)
register_family("bcos_convnext", lambda dtype=jnp.float32, **config: BcosConvNeXt(dtype=dtype, **config),
                converter="converters.bcos:convert_convnext", input_encoding=add_inverse)


def _register(arch: str, family: str, config: tuple, num_params: int, release_file: str, data=DATA) -> None:
    """One B-cos ImageNet checkpoint: ``bcos_<arch>.in1k``, the weights ``bcos.models.pretrained.<arch>`` loads
    (the release file in its ``URLS``, which the peer evaluated) with the package's eval preprocessing;
    ``num_params`` is the package's count."""
    zoo.register(zoo.ModelSpec(name=f"bcos_{arch}.in1k", family=family, config=config, data=data,
                               num_params=num_params, url=f"{RELEASE}/{release_file}"))


for _arch, (_block, _depths, _num_params, _file) in {
    "resnet18": ("basic", (2, 2, 2, 2), 11_693_120, "resnet_18-68b4160fff.pth"),
    "resnet34": ("basic", (3, 4, 6, 3), 21_797_568, "resnet_34-a63425a03e.pth"),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 25_538_880, "resnet_50-ead259efe4.pth"),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 44_504_896, "resnet_101-84c3658278.pth"),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 60_125_504, "resnet_152-42051a77c1.pth"),
}.items():
    _register(_arch, "bcos_resnet", zoo.config(block=_block, depths=_depths), _num_params, _file)

for _arch, (_growth, _blocks, _stem, _num_params, _file) in {
    "densenet121": (32, (6, 12, 24, 16), 64, 7_945_440, "densenet_121-b8daf96afb.pth"),
    "densenet161": (48, (6, 12, 36, 24), 96, 28_584_144, "densenet_161-9e9ea51353.pth"),
    "densenet169": (32, (6, 12, 32, 32), 64, 14_078_688, "densenet_169-7037ee0604.pth"),
    "densenet201": (32, (6, 12, 48, 32), 64, 19_907_808, "densenet_201-00ac87066f.pth"),
}.items():
    _register(_arch, "bcos_densenet", zoo.config(growth=_growth, blocks=_blocks, stem_width=_stem), _num_params,
              _file)

# The ConvNeXts with position norms (``URLS['bcos_final_long']['convnext_*_pn']``, the entrypoints' default). The
# package evaluates them at resize 232 (its bcos_final_long preset); the peer resized every B-cos model to 256, which
# its published rows state (published_models.csv).
for _arch, (_depths, _dims, _num_params, _file) in {
    "convnext_tiny": ((3, 3, 9, 3), (96, 192, 384, 768), 28_543_392, "convnext_tiny_pn-539b1bfb37.pth"),
    "convnext_base": ((3, 3, 27, 3), (128, 256, 512, 1024), 88_466_304, "convnext_base_pn-b0495852c6.pth"),
}.items():
    _register(_arch, "bcos_convnext", zoo.config(depths=_depths, dims=_dims), _num_params, _file,
              data=dataclasses.replace(DATA, crop_pct=224 / 232))

# The B-cos simple ViT-B/16 (``URLS['vit_final']``); its package preset is the bcos_final one (resize 256, crop 224).
_register("simple_vit_b_patch16_224", "bcos_vit", zoo.config(patch=16, dim=768, depth=12, heads=12, mlp_dim=3072),
          86_901_504, "bcos_simple_vit_b_patch16_224-1fc4750806.pth")
