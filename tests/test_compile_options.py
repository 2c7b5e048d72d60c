"""Per-program XLA options (jaxquba/engine/compile_options.py): the FLOP count they are chosen by, the choice, and
its effect on the compiled CPU program.

The FLOP counts are exact (integers well inside float64), so they are compared for equality.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba import models, zoo
from jaxquba.engine import compile_options as co
from jaxquba.models import layers

NHWC = ("NHWC", "HWIO", "NHWC")


def conv3x3(x, k):
    return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC)


def jaxpr_of(fn, *shapes):
    return jax.make_jaxpr(fn)(*(jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes)).jaxpr


def test_flops_of_a_spatial_convolution_a_matrix_product_and_a_pointwise_convolution():
    x, k3, k1, w = (2, 8, 8, 4), (3, 3, 4, 5), (1, 1, 4, 6), (4, 6)
    conv_flops = 2 * (2 * 8 * 8 * 5) * 9 * 4
    assert co.matmul_flops(jaxpr_of(conv3x3, x, k3)) == (conv_flops, 0, conv_flops, 0)
    dot_flops = 2 * (2 * 8 * 8 * 6) * 4
    assert co.matmul_flops(jaxpr_of(lambda x, w: x @ w, x, w)) == (0, 0, dot_flops, 0)
    pointwise = jaxpr_of(lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=NHWC),
                         x, k1)
    assert co.matmul_flops(pointwise) == (0, 0, dot_flops, 0)  # a 1x1 window is a matrix product
    both = jaxpr_of(lambda x, k, w: conv3x3(x, k).sum() + (x @ w).sum(), x, k3, w)
    flops = co.matmul_flops(both)
    assert flops == (conv_flops, 0, conv_flops + dot_flops, 0)
    assert flops.share(flops.spatial_convolution) == conv_flops / (conv_flops + dot_flops)
    assert co.matmul_flops(jaxpr_of(jnp.sin, x)) == co.NO_FLOPS
    assert co.NO_FLOPS.share(0.0) == 0.0


def test_a_matrix_product_with_batch_dimensions_counts_as_batched():
    """Attention's two products (batch and heads are batch dimensions) count as batched; a product that only
    broadcasts over leading axes (a Dense layer) does not."""
    q, w = (2, 3, 5, 4), (4, 6)
    logits = 2 * (2 * 3 * 5 * 5) * 4
    attention = jaxpr_of(lambda q: jnp.einsum("bhqd,bhkd->bhqk", q, q), q)
    assert co.matmul_flops(attention) == (0, logits, logits, 0)
    dense = 2 * (2 * 3 * 5 * 6) * 4
    assert co.matmul_flops(jaxpr_of(lambda q, w: q @ w, q, w)) == (0, 0, dense, 0)


def test_kernel_layout_sets_the_counted_input_features():
    x = (1, 6, 6, 3)
    oihw = jaxpr_of(lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=(
        "NHWC", "OIHW", "NHWC")), x, (7, 3, 3, 3))
    flops = 2 * (1 * 3 * 3 * 7) * 9 * 3
    assert co.matmul_flops(oihw) == (flops, 0, flops, 0)


def test_a_grouped_convolution_counts_the_input_features_of_its_group():
    grouped = jaxpr_of(lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC,
                                                                feature_group_count=4), (2, 8, 8, 8), (3, 3, 2, 8))
    flops = 2 * (2 * 8 * 8 * 8) * 9 * 2
    assert co.matmul_flops(grouped) == (flops, 0, flops, 0)


def test_a_platform_dependent_layer_counts_the_platforms_own_branch():
    """The depthwise layer is shifted slices on CPU (no convolution, but its FLOPs count as depthwise) and a
    grouped convolution elsewhere."""
    shapes = (2, 8, 8, 4), (3, 3, 1, 4)
    jaxpr = jaxpr_of(lambda x, k: layers.depthwise_conv(x, k, (1, 1), ((1, 1), (1, 1))), *shapes)
    depthwise = 2 * (2 * 8 * 8 * 4) * 9
    assert co.matmul_flops(jaxpr, "cpu") == (0, 0, 0, depthwise)
    assert co.matmul_flops(jaxpr, "gpu") == (depthwise, 0, depthwise, depthwise)
    small_patch = jaxpr_of(lambda x, k: layers.small_patch_conv(x, k, (2, 2), ((1, 1), (1, 1))), (2, 8, 8, 3),
                           (3, 3, 3, 4))
    assert co.matmul_flops(small_patch, "cpu").depthwise == 0  # another platform-dependent layer: a dense window


def test_a_scan_body_counts_once_per_step_and_a_gradient_counts_its_transposed_convolutions():
    x, k = (1, 8, 8, 4), (3, 3, 4, 4)
    once = co.matmul_flops(jaxpr_of(conv3x3, x, k)).total

    def three_times(x, k):
        return jax.lax.scan(lambda c, _: (conv3x3(c, k), None), x, None, length=3)[0]

    assert co.matmul_flops(jaxpr_of(three_times, x, k)) == (3 * once, 0, 3 * once, 0)
    gradient = jaxpr_of(jax.grad(lambda x, k: conv3x3(x, k).sum()), x, k)
    assert co.matmul_flops(gradient) == (2 * once, 0, 2 * once, 0)  # the forward's and the input gradient's convolutions


def test_the_choice_on_cpu_other_platforms_and_under_the_users_xla_flags(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    convolutions = jaxpr_of(lambda x, k: conv3x3(x, k) @ jnp.ones((5, 5)), (2, 8, 8, 4), (3, 3, 4, 5))
    products = jaxpr_of(lambda x, w: x @ w @ w.T @ w, (64, 32), (32, 32))
    attention = jaxpr_of(lambda x, w: jnp.einsum("bqd,bkd->bqk", x @ w, x @ w), (4, 64, 32), (32, 32))
    assert co.compiler_options(convolutions, "cpu") == {co.YNN_FUSION_TYPES: ""}
    assert co.compiler_options(convolutions, "gpu") == {}
    assert co.compiler_options(products, "cpu") == {}
    assert co.compiler_options(attention, "cpu") == {co.YNN_FUSION_TYPES: ""}  # batched: half the FLOPs
    assert co.compiler_options(attention, "gpu") == {}
    depthwise = jaxpr_of(lambda x, k, w: layers.depthwise_conv(x, k, (1, 1), ((1, 1), (1, 1))) @ w,
                         (2, 8, 8, 64), (3, 3, 1, 64), (64, 64))  # 9 / (9 + 64) of the FLOPs
    assert co.compiler_options(depthwise, "cpu") == {co.YNN_FUSION_TYPES: ""}
    assert co.compiler_options(depthwise, "gpu") == {}
    def with_attention(x, k, w):  # depthwise 0.9% of the FLOPs, a batched product 0.02%
        tokens = (layers.depthwise_conv(x, k, (1, 1), ((1, 1), (1, 1))) @ w).reshape(2, 16, -1)[..., :1]
        return jnp.einsum("bnc,bmc->bnm", tokens, tokens)

    assert co.compiler_options(jaxpr_of(with_attention, (2, 4, 4, 64), (3, 3, 1, 64), (64, 1024)), "cpu") == {}
    monkeypatch.setenv("XLA_FLAGS", f"--{co.YNN_FUSION_TYPES}=LIBRARY_FUSION_TYPE_DOT")
    assert co.compiler_options(convolutions, "cpu") == {}


def _shape_jaxpr(name: str):
    """The forward of a registered model at batch 2, traced from parameter shapes alone (no weights drawn)."""
    from converters.load import expected_params
    spec = zoo.get(name)
    params = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, jnp.float32), expected_params(spec))
    size = spec.data.input_size
    images = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    return jax.jit(models.make_apply(spec, "fp32")).trace(params, images).jaxpr.jaxpr


@pytest.mark.parametrize("name, switched", [("resnet50", True), ("vgg11", True), ("regnety_004", True),
                                            ("resnext50_32x4d", False), ("convnext_tiny", True),
                                            ("convnext_large", True), ("tf_efficientnet_lite0", True),
                                            ("legacy_xception", True), ("vit_base_patch16_224", True),
                                            ("deit_small_patch16_224", True), ("cait_xxs24_224", True),
                                            ("swin_tiny_patch4_window7_224", False), ("clip_vit_b32.openai", False),
                                            ("fastvit_sa12", False), ("coat_lite_tiny", False)])
def test_which_registered_models_compile_without_ynnpack_on_cpu(monkeypatch, name, switched):
    """Spatial convolutions carry ~48% of ResNet-50's FLOPs, nearly all of VGG's, ~14% of RegNetY-400MF's (grouped),
    ~8% of ResNeXt-50's, ~4% of ConvNeXt-T's (its stem and downsampling), <1% of the transformers' (a patch
    embedding) and none of lite0's on CPU (its stem is a matrix product there). Attention's batched products carry
    T / (T + 6D) of a plain ViT's: 4.1% of ViT-B/16's (197 tokens, width 768), 7.8% of DeiT-S's, 1.0% of ViT-B/32's;
    14% of CaiT-XXS24's, 3.1% of Swin-T's (windows of 49 tokens). Depthwise convolutions carry 2.4% of ConvNeXt-T's,
    1.0% of ConvNeXt-L's, 9.9% of lite0's and 1.6% of Xception's; FastViT's (4.7%) and CoaT-Lite's (1.8%) share
    their programs with attention."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    options = co.compiler_options(_shape_jaxpr(name), "cpu")
    assert options == ({co.YNN_FUSION_TYPES: ""} if switched else {})


def _without_and_with_ynnpack(fn, *args):
    """``fn``'s values compiled with the engine's options (asserted to turn YNNPACK off and to leave no YNNPACK
    fusion) and compiled with XLA's defaults; skips where the default program has no YNNPACK fusion either."""
    jitted = jax.jit(fn)
    compiled, options = co.compile_traced(jitted.trace(*args), "cpu")
    assert options == {co.YNN_FUSION_TYPES: ""}
    assert "__ynn_fusion" not in compiled.as_text()
    default = jitted.lower(*args).compile()
    if "__ynn_fusion" not in default.as_text():
        pytest.skip("this jaxlib's default CPU program has no YNNPACK fusion: the option changes nothing here")
    return np.asarray(compiled(*args)), np.asarray(default(*args))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options concern XLA:CPU")
def test_the_option_keeps_convolutions_out_of_ynnpack_and_computes_the_same_values(monkeypatch):
    """Compiled with the options, the program has no YNNPACK fusion and gives the default program's values up to the
    summation order: float32 sums of 9*64 products of unit-scale terms, so 1e-4 absolute is ~30 ulps of the
    output's magnitude (~10)."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 16, 16, 64)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, 64, 64)) / 24, jnp.float32)
    got, want = _without_and_with_ynnpack(lambda x, k: conv3x3(jax.nn.relu(x), k), x, k)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options concern XLA:CPU")
def test_attention_compiled_without_ynnpack_computes_the_same_values(monkeypatch):
    """An attention block (all of its products batched) compiles without YNNPACK and gives the default program's
    values up to the summation order. Logits are sums of 16 products scaled by 1/4 (magnitude up to ~4), so another
    order moves each by at most 16 float32 roundings, ~4e-6; the softmax passes that on to outputs that are
    averages of unit-scale values as about as much. 1e-5 absolute sits above that bound (measured: 3.6e-7)."""
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.standard_normal((2, 50, 4, 16)), jnp.float32) for _ in range(3))
    got, want = _without_and_with_ynnpack(layers.dot_product_attention, q, k, v)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
