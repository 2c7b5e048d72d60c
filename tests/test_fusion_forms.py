"""The forms that route around XLA:CPU's fusion choices keep the arithmetic: ``layers.fusion_boundary`` is an exact
identity (values and derivative), ``layers.Dense`` computes ``flax.linen.Dense`` bit for bit, ``layers.gelu`` is
PyTorch's exact GELU, and in ConvNeXt's block the boundary does what it is there for (the program materialises
neither the fc1 bias broadcast nor the depthwise convolution's partial sums). ``layers.materialize`` is an exact
identity too, and with YNNPACK off it keeps ConvNeXt's LayerNorm from recomputing the depthwise convolution."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba.models import convnext, layers


def test_fusion_boundary_is_an_exact_identity_with_the_identity_derivative():
    x = jnp.asarray([-jnp.inf, -3.4e38, -1.0, -0.0, 0.0, 1e-45, 2.5, 3.4e38, jnp.inf, jnp.nan], jnp.float32)
    y = jax.jit(layers.fusion_boundary)(x)
    np.testing.assert_array_equal(np.asarray(y).view(np.uint32), np.asarray(x).view(np.uint32))  # -0.0 and NaN too
    assert jax.jit(layers.fusion_boundary)(x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    finite = x[1:-2]
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(layers.fusion_boundary(v) * v))(finite), 2 * finite)
    assert "clamp" in jax.jit(layers.fusion_boundary).lower(x).as_text()  # the CPU form is the one under test


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_is_flax_dense(dtype, use_bias):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7, 24))
    ours = layers.Dense(40, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32)
    reference = nn.Dense(40, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32)
    params = reference.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, params)
    params = jax.tree.map(lambda p: p + 0.25, params)  # a nonzero bias
    got, want = jax.jit(ours.apply)(params, x), jax.jit(reference.apply)(params, x)
    assert got.dtype == want.dtype == dtype
    # Same product, same bias add, one rounding each: equal bits.
    np.testing.assert_array_equal(np.asarray(got.astype(jnp.float32)), np.asarray(want.astype(jnp.float32)))


def test_gelu_is_pytorchs_exact_gelu():
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-12, 12, 20001), [-40.0, -8.0, 0.0, 1e-30, 40.0]]).astype(np.float32)
    want = torch.nn.functional.gelu(torch.from_numpy(x), approximate="none").numpy()
    got = np.asarray(jax.jit(layers.gelu)(jnp.asarray(x)))
    # The same formula, x/2 * (1 + erf(x/sqrt(2))), with two erf implementations: a few float32 roundings (1.2e-7
    # relative) of the value. Below x = -5, 1 + erf cancels to a few ulps of 1 (6e-8 each, times |x|/2), so there
    # the two differ by up to 9e-7 absolute on values the true GELU puts under 1.5e-6 in magnitude: atol 1e-6.
    np.testing.assert_allclose(got, want, rtol=4 * 1.2e-7, atol=1e-6)
    np.testing.assert_allclose(got, np.asarray(jax.nn.gelu(jnp.asarray(x), approximate=False)), rtol=4 * 1.2e-7,
                               atol=1e-6)
    assert jax.jit(layers.gelu)(jnp.asarray(x, jnp.bfloat16)).dtype == jnp.bfloat16


def _materialised_arrays(apply, params, x, shape):
    """How many arrays of ``shape`` the compiled program's entry computation computes (its parameters, and the
    elements of a conditional's result tuple, aside)."""
    text = jax.jit(apply).lower(params, x).compile().as_text()
    entry = text[text.index("\nENTRY"):]
    wanted = f"f32[{','.join(map(str, shape))}]"
    return sum(1 for line in entry.splitlines()[1:]
               if "=" in line and line.split("=", 1)[1].strip().startswith(wanted)
               and "parameter(" not in line and "get-tuple-element(" not in line)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the boundary matters to XLA:CPU's YNNPACK fusion")
def test_convnext_block_materialises_no_bias_broadcast_and_no_partial_sums(monkeypatch):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 56, 56, 96))
    block = convnext.Block(jnp.float32)
    params = block.init(jax.random.PRNGKey(1), x)
    hidden = (2, 56, 56, 384)  # fc1's output, 4x the width
    # With the boundary: the depthwise convolution (one loop) and the block's output; the hidden width only for
    # fc1's product and GELU (as 2-D arrays), never as a bias broadcast to the 4-D activation.
    assert _materialised_arrays(block.apply, params, x, x.shape) <= 2
    assert _materialised_arrays(block.apply, params, x, hidden) == 0
    monkeypatch.setattr(layers, "fusion_boundary", lambda v: v)  # what XLA:CPU does without it (and without
    monkeypatch.setattr(layers, "materialize", lambda v: v)  # materialize, whose conditional also ends the fusion)
    assert _materialised_arrays(block.apply, params, x, x.shape) > 2
    assert _materialised_arrays(block.apply, params, x, hidden) >= 1


def test_materialize_is_an_exact_identity_with_the_identity_derivative():
    x = jnp.asarray([-jnp.inf, -3.4e38, -1.0, -0.0, 0.0, 1e-45, 2.5, 3.4e38, jnp.inf, jnp.nan], jnp.float32)
    for first in (x, x[::-1]):  # the predicate reads the first element: a NaN there too
        y = jax.jit(layers.materialize)(first)
        np.testing.assert_array_equal(np.asarray(y).view(np.uint32), np.asarray(first).view(np.uint32))
    assert jax.jit(layers.materialize)(x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    assert jax.jit(layers.materialize)(jnp.zeros((0, 3))).shape == (0, 3)
    finite = x[1:-2]
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(layers.materialize(v) * v))(finite), 2 * finite)
    batched = jax.vmap(layers.materialize)(jnp.stack([x, x[::-1]]))  # vmapped, the conditional becomes a select
    np.testing.assert_array_equal(np.asarray(batched[1]).view(np.uint32), np.asarray(x[::-1]).view(np.uint32))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="materialize matters to XLA:CPU's loop fusion")
def test_convnext_block_computes_its_depthwise_convolution_once_without_ynnpack(monkeypatch):
    """XLA's cost analysis counts the FLOPs of every fusion: a recomputed depthwise convolution counts again.

    The predicate of materialize's conditional reads one element of the convolution's output, in a fusion that
    XLA's analysis counts at the output's full size: one convolution's FLOPs over the minimum, where without
    materialize the LayerNorm's variance and normalisation loops recompute it (two over the minimum)."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 28, 28, 96))
    block = convnext.Block(jnp.float32)
    params = block.init(jax.random.PRNGKey(1), x)
    depthwise_flops = 2 * x.size * 49

    def flops():
        analysis = jax.jit(block.apply).lower(params, x).compile(
            compiler_options={"xla_cpu_experimental_ynn_fusion_type": ""}).cost_analysis()
        return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]

    once = flops()
    monkeypatch.setattr(layers, "materialize", lambda v: v)
    recomputed = flops()
    assert recomputed - once >= 0.9 * depthwise_flops
