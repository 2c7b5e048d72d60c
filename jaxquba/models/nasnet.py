"""NASNet-A Large (Zoph et al. 2018) as timm's ``nasnetalarge`` builds it (Cadene's port of the TF-slim weights, TF
'SAME' padding). Flax module names are timm's module paths.

A 3x3/2 conv + BN (no ReLU), two stem (reduction) cells, then three stages of six cells (a first cell, whose
previous-input path is a factorised reduction, then five normal cells) separated by two reduction cells; ReLU,
global average pool, Linear ``last_linear``. Every cell takes the two previous cells' outputs. Building blocks:
``ActConvBn`` (ReLU, 1x1 conv, BN), ``BranchSeparables`` (twice: ReLU, depthwise k x k conv + 1x1 conv, BN; the
stride on the first) and the factorised reduction (ReLU; a 1x1 conv on the even pixels and another on the odd ones,
shifted by one with a zero row/column at the end; concatenated, BN). Batch norms use eps 1e-3, convs have no bias.
Strided convs and pools pad as TF 'SAME' (the strided average pool counts the zero padding); the stride-1 3x3
average pools pad 1 and exclude it from the count.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxquba import zoo
from jaxquba.models import layers, register_family

BN_EPS = 1e-3


def bn(x: jax.Array, name: str, dtype) -> jax.Array:
    return layers.FrozenBatchNorm(BN_EPS, dtype, name=name)(x)


def conv1x1(x: jax.Array, name: str, features: int, dtype) -> jax.Array:
    return layers.conv(features, 1, use_bias=False, dtype=dtype, name=name)(x)


def act_conv_bn(x: jax.Array, name: str, features: int, dtype) -> jax.Array:
    return bn(conv1x1(nn.relu(x), f"{name}.conv", features, dtype), f"{name}.bn", dtype)


def separable(x: jax.Array, name: str, features: int, kernel: int, stride: int, dtype) -> jax.Array:
    x = layers.conv(x.shape[-1], kernel, stride, "SAME", groups=x.shape[-1], use_bias=False, dtype=dtype,
                    name=f"{name}.depthwise_conv2d")(x)
    return conv1x1(x, f"{name}.pointwise_conv2d", features, dtype)


def branch(x: jax.Array, name: str, features: int, kernel: int, stride: int, dtype, stem_cell: bool = False):
    """``BranchSeparables``: the middle width is the output's in the first stem cell, the input's elsewhere."""
    middle = features if stem_cell else x.shape[-1]
    x = bn(separable(nn.relu(x), f"{name}.separable_1", middle, kernel, stride, dtype), f"{name}.bn_sep_1", dtype)
    return bn(separable(nn.relu(x), f"{name}.separable_2", features, kernel, 1, dtype), f"{name}.bn_sep_2", dtype)


def max_pool_s2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")


def avg_pool_s2(x: jax.Array) -> jax.Array:
    return nn.avg_pool(x, (3, 3), strides=(2, 2), padding="SAME", count_include_pad=True)


def avg_pool_s1(x: jax.Array) -> jax.Array:
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def factorized_reduction(x: jax.Array, features: int, dtype) -> jax.Array:
    """``path_1`` / ``path_2`` / ``final_path_bn``: halves the resolution of the previous input."""
    x = nn.relu(x)
    shifted = jnp.pad(x[:, 1:, 1:, :], ((0, 0), (0, 1), (0, 1), (0, 0)))  # nn.ZeroPad2d((-1, 1, -1, 1))
    paths = [conv1x1(x[:, ::2, ::2, :], "path_1.conv", features, dtype),
             conv1x1(shifted[:, ::2, ::2, :], "path_2.conv", features, dtype)]
    return bn(jnp.concatenate(paths, axis=-1), "final_path_bn", dtype)


class Cell(nn.Module):
    """``kind``: 'stem0' (CellStem0), 'stem1' (CellStem1), 'first' (FirstCell), 'normal', 'reduction'
    (ReductionCell0/1). ``width``: the cell's per-branch width (timm's ``out_chs_right`` / ``num_channels``)."""

    kind: str
    width: int
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, x_prev: jax.Array | None = None) -> jax.Array:
        dt, w, kind = self.dtype, self.width, self.kind
        if kind in ("stem0", "stem1", "reduction"):
            if kind == "stem0":  # one input: ``right`` is the stem conv's output through the 1x1, ``left`` itself
                right, left = act_conv_bn(x, "conv_1x1", w, dt), x
            elif kind == "stem1":  # x: the stem conv's output, x_prev: the first stem cell's
                right, left = act_conv_bn(x_prev, "conv_1x1", w, dt), factorized_reduction(x, w // 2, dt)
            else:
                right, left = act_conv_bn(x, "conv_1x1", w, dt), act_conv_bn(x_prev, "conv_prev_1x1", w, dt)
            stem = kind == "stem0"
            c0 = branch(right, "comb_iter_0_left", w, 5, 2, dt) + branch(left, "comb_iter_0_right", w, 7, 2, dt,
                                                                           stem)
            c1 = max_pool_s2(right) + branch(left, "comb_iter_1_right", w, 7, 2, dt, stem)
            c2 = avg_pool_s2(right) + branch(left, "comb_iter_2_right", w, 5, 2, dt, stem)
            c3 = avg_pool_s1(c0) + c1
            c4 = branch(c0, "comb_iter_4_left", w, 3, 1, dt) + max_pool_s2(right)
            return jnp.concatenate([c1, c2, c3, c4], axis=-1)
        right = act_conv_bn(x, "conv_1x1", w, dt)
        if kind == "first":
            left = factorized_reduction(x_prev, w // 2, dt)
        elif kind == "normal":
            left = act_conv_bn(x_prev, "conv_prev_1x1", w, dt)
        else:
            raise ValueError(f"unknown NASNet cell {kind!r}")
        c0 = branch(right, "comb_iter_0_left", w, 5, 1, dt) + branch(left, "comb_iter_0_right", w, 3, 1, dt)
        c1 = branch(left, "comb_iter_1_left", w, 5, 1, dt) + branch(left, "comb_iter_1_right", w, 3, 1, dt)
        c2 = avg_pool_s1(right) + left
        c3 = avg_pool_s1(left) + avg_pool_s1(left)
        c4 = branch(right, "comb_iter_4_left", w, 3, 1, dt) + right
        return jnp.concatenate([left, c0, c1, c2, c3, c4], axis=-1)


class NASNetALarge(nn.Module):
    """Normalised NHWC images (inception normalisation) -> logits."""

    stem_size: int = 96
    num_features: int = 4032
    num_classes: int = 1000
    dtype: layers.Dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        dt, c = self.dtype, self.num_features // 24
        x_conv0 = layers.conv(self.stem_size, 3, 2, use_bias=False, dtype=dt, name="conv0.conv")(images.astype(dt))
        x_conv0 = bn(x_conv0, "conv0.bn", dt)
        x_stem_0 = Cell("stem0", c // 4, dt, name="cell_stem_0")(x_conv0)
        prev, x = x_stem_0, Cell("stem1", c // 2, dt, name="cell_stem_1")(x_conv0, x_stem_0)
        index = 0
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:  # the reduction cell takes (last cell, the one before); the first cell its input's input
                x = Cell("reduction", width, dt, name=f"reduction_cell_{stage - 1}")(x, prev)
            for i in range(6):
                prev, x = x, Cell("first" if i == 0 else "normal", width, dt, name=f"cell_{index}")(x, prev)
                index += 1
        x = nn.relu(x).astype(jnp.float32).mean(axis=(1, 2)).astype(dt)
        return layers.dense(self.num_classes, dt, name="last_linear")(x)


def build(dtype=jnp.float32, **config) -> NASNetALarge:
    return NASNetALarge(dtype=dtype, **config)


register_family("nasnet", build, converter="converters.nasnet:convert")

# The TF-slim weights as timm ships them (published row 34).
zoo.register(zoo.ModelSpec(name="nasnetalarge.tf_in1k", family="nasnet", config=zoo.config(),
                           data=zoo.DataConfig(331, 0.911, "bicubic", zoo.INCEPTION_MEAN, zoo.INCEPTION_STD),
                           num_params=88_753_150, hf_hub_id="timm/nasnetalarge.tf_in1k"))
