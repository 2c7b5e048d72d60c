"""Inception-v3 (Szegedy et al. 2016) as torchvision's ``inception_v3`` builds it (timm's ``inception_v3`` is the
same network under the same names). Flax module names are the PyTorch module paths.

Every conv is ``BasicConv2d``: conv without bias (square or 1xn / nx1 kernels), batch norm (eps 1e-3), ReLU. Stem:
3x3/2, 3x3, 3x3 pad 1, 3x3/2 max pool, 1x1, 3x3, 3x3/2 max pool. Then Mixed_5b-5d (InceptionA: 1x1; 1x1 -> 5x5;
1x1 -> 3x3 -> 3x3; 3x3 average pool -> 1x1), Mixed_6a (InceptionB, reduction), Mixed_6b-6e (InceptionC: factorised
7x7s), Mixed_7a (InceptionD, reduction), Mixed_7b-7c (InceptionE: split 1x3 / 3x1 branches); global average pool,
Linear. Average pools count the zero padding (PyTorch's default). The auxiliary classifier is training-only and not
part of the module.

torchvision's weights expect ``transform_input`` (ImageNet-normalised input re-normalised to (x - 0.5) / 0.5), which
composed with the ImageNet normalisation is the inception normalisation the specs use.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-3


def basic_conv(x: jax.Array, name: str, features: int, kernel, stride: int = 1, padding=0,
               dtype: layers.Dtype = jnp.float32) -> jax.Array:
    """``BasicConv2d`` ``name`` (``{name}.conv``, ``{name}.bn``, ReLU); ``kernel`` and ``padding`` an int or
    (height, width)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    x = nn.Conv(features, (kh, kw), strides=(stride, stride), padding=((ph, ph), (pw, pw)), use_bias=False,
                dtype=dtype, param_dtype=jnp.float32, name=f"{name}.conv")(x)
    return nn.relu(layers.FrozenBatchNorm(BN_EPS, dtype, name=f"{name}.bn")(x))


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """``F.avg_pool2d(x, 3, stride=1, padding=1)``: the zero padding counts in the average."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=True)


def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
    pool_features: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt = self.dtype
        b1 = basic_conv(x, "branch1x1", 64, 1, dtype=dt)
        b5 = basic_conv(basic_conv(x, "branch5x5_1", 48, 1, dtype=dt), "branch5x5_2", 64, 5, padding=2, dtype=dt)
        b3 = basic_conv(x, "branch3x3dbl_1", 64, 1, dtype=dt)
        b3 = basic_conv(b3, "branch3x3dbl_2", 96, 3, padding=1, dtype=dt)
        b3 = basic_conv(b3, "branch3x3dbl_3", 96, 3, padding=1, dtype=dt)
        bp = basic_conv(avg_pool_3x3(x), "branch_pool", self.pool_features, 1, dtype=dt)
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt = self.dtype
        b3 = basic_conv(x, "branch3x3", 384, 3, 2, dtype=dt)
        bd = basic_conv(x, "branch3x3dbl_1", 64, 1, dtype=dt)
        bd = basic_conv(bd, "branch3x3dbl_2", 96, 3, padding=1, dtype=dt)
        bd = basic_conv(bd, "branch3x3dbl_3", 96, 3, 2, dtype=dt)
        return jnp.concatenate([b3, bd, max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt, c7 = self.dtype, self.channels_7x7
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding) of a 1x7 and a 7x1 conv
        b1 = basic_conv(x, "branch1x1", 192, 1, dtype=dt)
        b7 = basic_conv(x, "branch7x7_1", c7, 1, dtype=dt)
        b7 = basic_conv(b7, "branch7x7_2", c7, row[0], padding=row[1], dtype=dt)
        b7 = basic_conv(b7, "branch7x7_3", 192, col[0], padding=col[1], dtype=dt)
        bd = basic_conv(x, "branch7x7dbl_1", c7, 1, dtype=dt)
        for i, (kernel, pad) in enumerate((col, row, col, row)):
            bd = basic_conv(bd, f"branch7x7dbl_{i + 2}", 192 if i == 3 else c7, kernel, padding=pad, dtype=dt)
        bp = basic_conv(avg_pool_3x3(x), "branch_pool", 192, 1, dtype=dt)
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt = self.dtype
        b3 = basic_conv(basic_conv(x, "branch3x3_1", 192, 1, dtype=dt), "branch3x3_2", 320, 3, 2, dtype=dt)
        b7 = basic_conv(x, "branch7x7x3_1", 192, 1, dtype=dt)
        b7 = basic_conv(b7, "branch7x7x3_2", 192, (1, 7), padding=(0, 3), dtype=dt)
        b7 = basic_conv(b7, "branch7x7x3_3", 192, (7, 1), padding=(3, 0), dtype=dt)
        b7 = basic_conv(b7, "branch7x7x3_4", 192, 3, 2, dtype=dt)
        return jnp.concatenate([b3, b7, max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dt = self.dtype

        def split(y, name):  # a 1x3 and a 3x1 conv on the same input, concatenated
            return jnp.concatenate([basic_conv(y, f"{name}a", 384, (1, 3), padding=(0, 1), dtype=dt),
                                    basic_conv(y, f"{name}b", 384, (3, 1), padding=(1, 0), dtype=dt)], axis=-1)

        b1 = basic_conv(x, "branch1x1", 320, 1, dtype=dt)
        b3 = split(basic_conv(x, "branch3x3_1", 384, 1, dtype=dt), "branch3x3_2")
        bd = basic_conv(x, "branch3x3dbl_1", 448, 1, dtype=dt)
        bd = split(basic_conv(bd, "branch3x3dbl_2", 384, 3, padding=1, dtype=dt), "branch3x3dbl_3")
        bp = basic_conv(avg_pool_3x3(x), "branch_pool", 192, 1, dtype=dt)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """Normalised NHWC images (inception normalisation) -> logits."""

    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt = self.dtype
        x = basic_conv(images.astype(dt), "Conv2d_1a_3x3", 32, 3, 2, dtype=dt)
        x = basic_conv(x, "Conv2d_2a_3x3", 32, 3, dtype=dt)
        x = max_pool_3x3_s2(basic_conv(x, "Conv2d_2b_3x3", 64, 3, padding=1, dtype=dt))
        x = basic_conv(x, "Conv2d_3b_1x1", 80, 1, dtype=dt)
        x = max_pool_3x3_s2(basic_conv(x, "Conv2d_4a_3x3", 192, 3, dtype=dt))
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = InceptionA(pool_features, dtype=dt, name=name)(x)
        x = InceptionB(dtype=dt, name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, dtype=dt, name=name)(x)
        x = InceptionD(dtype=dt, name="Mixed_7a")(x)
        x = InceptionE(dtype=dt, name="Mixed_7b")(x)
        x = InceptionE(dtype=dt, name="Mixed_7c")(x)
        x = x.astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="fc")(x)


def build(dtype=jnp.float32, **config) -> InceptionV3:
    return InceptionV3(dtype=dtype, **config)


register_family("inception_v3", build, converter="converters.inception_v3:convert")

# torchvision's IMAGENET1K_V1 weights under timm's tag (published row 18, which the peer ran with torchvision's
# resize 342 / crop 299, bilinear: the published name is a spec of its own). timm's count, without the auxiliary
# classifier (3,326,696 parameters) that torchvision's model keeps and the published Params column counts: 27.2M
# published, 23.8M evaluated.
INCEPTION_V3_AUX_PARAMS = 3_326_696
zoo.register(zoo.ModelSpec(name="inception_v3.tv_in1k", family="inception_v3", config=zoo.config(),
                           data=zoo.DataConfig(299, 0.875, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=23_834_568, hf_hub_id="timm/inception_v3.tv_in1k"))
