"""``layers.Conv`` runs depthwise convolutions as shifted slices on CPU, 1x1 convolutions and small-patch
convolutions (RGB stems) as matrix products: same parameters, same values, same gradients as Flax's convolution (the
XLA reference), for every padding and stride form the model families use."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba.models import layers

CASES = [  # (kernel, stride, padding, input height, input width)
    ((7, 7), 1, ((3, 3), (3, 3)), 14, 14),  # ConvNeXt
    ((3, 3), 2, "SAME", 15, 16),  # TF-style EfficientNet, odd size: the extra pixel goes to the end
    ((5, 5), 2, ((2, 2), (2, 2)), 16, 16),  # timm's symmetric padding
    ((1, 11), 1, ((0, 0), (5, 5)), 9, 12),  # InceptionNeXt's band kernels
    ((3, 3), 1, "VALID", 8, 8),
    ((3, 3), 1, 1, 8, 8),
]


def _both(kernel, stride, padding, use_bias, dtype=jnp.float32):
    kwargs = dict(features=6, kernel_size=kernel, strides=(stride, stride), padding=padding, feature_group_count=6,
                  use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32)
    return layers.Conv(**kwargs), nn.Conv(**kwargs)


def _assert_same_values_and_gradients_without_a_convolution(ours, reference, params, x):
    """``ours`` computes ``reference``'s values and gradients (a few ulps of their scale: the same float32 products,
    summed in another order) with no convolution in its CPU program."""
    got, want = ours.apply(params, x), reference.apply(params, x)
    assert got.shape == want.shape
    assert "convolution" not in jax.jit(ours.apply).lower(params, x).as_text()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(jnp.abs(want).max()))

    def loss(module, params, x):
        return jnp.sum(jnp.sin(module.apply(params, x)))

    grads = jax.grad(loss, argnums=(1, 2))
    (got_params, got_x), (want_params, want_x) = grads(ours, params, x), grads(reference, params, x)
    np.testing.assert_allclose(got_x, want_x, rtol=0, atol=1e-5 * float(jnp.abs(want_x).max()))
    # A kernel gradient sums over every output position (2 x H' x W' terms), hence the looser bound.
    for g, w in zip(jax.tree.leaves(got_params), jax.tree.leaves(want_params)):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-4 * float(jnp.abs(w).max()))


@pytest.mark.parametrize("kernel,stride,padding,height,width", CASES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_depthwise_conv_equals_the_grouped_convolution(kernel, stride, padding, height, width, use_bias):
    ours, reference = _both(kernel, stride, padding, use_bias)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, 6))
    params = reference.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, params)
    if use_bias:  # a nonzero bias, so the test sees it added
        params = jax.tree.map(lambda p: p + 0.5, params)
    # float32 sums of at most 11*7 products in another order
    _assert_same_values_and_gradients_without_a_convolution(ours, reference, params, x)


def test_depthwise_conv_keeps_the_compute_dtype():
    ours, reference = _both((3, 3), 1, ((1, 1), (1, 1)), True, dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 6))
    params = reference.init(jax.random.PRNGKey(1), x)
    got, want = ours.apply(params, x), reference.apply(params, x)
    assert got.dtype == want.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), rtol=0, atol=0.05)


POINTWISE = [  # (stride, padding, features)
    (1, 0, 10), (2, 0, 10), (2, "SAME", 4), (1, "VALID", 6), (1, ((0, 0), (0, 0)), 3)]


@pytest.mark.parametrize("stride,padding,features", POINTWISE)
def test_pointwise_conv_equals_the_convolution(stride, padding, features):
    kwargs = dict(features=features, kernel_size=(1, 1), strides=(stride, stride), padding=padding)
    ours, reference = layers.Conv(**kwargs), nn.Conv(**kwargs)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 8, 6))
    params = jax.tree.map(lambda p: p + 0.5, reference.init(jax.random.PRNGKey(1), x))
    got, want = ours.apply(params, x), reference.apply(params, x)
    assert "convolution" not in jax.jit(ours.apply).lower(params, x).as_text()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(jnp.abs(want).max()))
    grad = jax.grad(lambda module, x: jnp.sum(jnp.sin(module.apply(params, x))), argnums=1)
    np.testing.assert_allclose(grad(ours, x), grad(reference, x), rtol=0, atol=1e-5)


def test_a_padded_pointwise_conv_is_a_flax_convolution():
    kwargs = dict(features=4, kernel_size=(1, 1), padding=((1, 1), (1, 1)))
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 5, 5, 3))
    params = nn.Conv(**kwargs).init(jax.random.PRNGKey(1), x)
    np.testing.assert_array_equal(layers.Conv(**kwargs).apply(params, x), nn.Conv(**kwargs).apply(params, x))


def test_grouped_convolutions_that_are_not_depthwise_are_flax_convolutions():
    """Two channels per group (ResNeXt, RegNet) and a channel multiplier take Flax's path unchanged."""
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 6))
    for features, groups in ((6, 3), (12, 6)):
        kwargs = dict(features=features, kernel_size=(3, 3), padding=((1, 1), (1, 1)), feature_group_count=groups)
        ours, reference = layers.Conv(**kwargs), nn.Conv(**kwargs)
        params = reference.init(jax.random.PRNGKey(1), x)
        np.testing.assert_array_equal(ours.apply(params, x), reference.apply(params, x))


SMALL_PATCH = [  # (kernel, stride, padding, input channels, input height, input width)
    ((3, 3), 2, "SAME", 3, 15, 16),  # TF-style EfficientNet stem, odd size
    ((3, 3), 2, ((1, 1), (1, 1)), 3, 16, 16),  # timm's MobileNet / EfficientNet stems
    ((2, 2), 2, "VALID", 8, 8, 9),  # 32 values per patch: the largest routed
    ((3, 1), (2, 1), ((1, 1), (0, 0)), 1, 7, 5),
]


@pytest.mark.parametrize("kernel,stride,padding,channels,height,width", SMALL_PATCH)
def test_small_patch_conv_equals_the_convolution(kernel, stride, padding, channels, height, width):
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    kwargs = dict(features=5, kernel_size=kernel, strides=strides, padding=padding)
    ours, reference = layers.Conv(**kwargs), nn.Conv(**kwargs)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
    params = jax.tree.map(lambda p: p + 0.5, reference.init(jax.random.PRNGKey(1), x))
    # float32 sums of at most 32 products in another order
    _assert_same_values_and_gradients_without_a_convolution(ours, reference, params, x)


@pytest.mark.parametrize("kernel,stride", [((7, 7), 2), ((3, 3), 1)])
def test_a_larger_patch_or_no_stride_is_a_flax_convolution(kernel, stride):
    """ResNet's 7x7x3 stem gathers 147 values per patch and VGG's 3x3 first layer has no stride: there the gathered
    product is slower than the convolution."""
    kwargs = dict(features=4, kernel_size=kernel, strides=(stride, stride), padding="SAME")
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 16, 16, 3))
    params = nn.Conv(**kwargs).init(jax.random.PRNGKey(1), x)
    np.testing.assert_array_equal(layers.Conv(**kwargs).apply(params, x), nn.Conv(**kwargs).apply(params, x))
