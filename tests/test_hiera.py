"""Hiera parity with timm (random init, real images): unrolled token order, mask-unit and global attention, query
and residual max-pooling."""

import jax
import numpy as np

from jaxquba.models.hiera import unroll_order
from parity_util import assert_parity, parity_logits


def test_hiera_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "hiera_tiny_224.mae_in1k_ft_in1k", shared_data, n_images=2))


def test_unroll_order_matches_timm(timm_module):
    """The token permutation against timm's ``Unroll`` module on token indices (exact)."""
    import torch
    from timm.models.hiera import Unroll

    tokens = torch.arange(56 * 56, dtype=torch.float32).reshape(1, -1, 1)
    expected = Unroll((224, 224), (4, 4), [(2, 2)] * 3)(tokens).reshape(-1).long().numpy()
    np.testing.assert_array_equal(unroll_order(56), expected)


def test_published_rows_carry_the_hub_softmax_and_preprocessing():
    """The published Hiera rows: torch.hub's Head returns softmax probabilities in eval mode (PROTOCOLS P1.2)."""
    from jaxquba import zoo

    timm_spec, published = zoo.get("hiera_tiny_224.mae_in1k_ft_in1k"), zoo.get("Hiera-T")
    probe = zoo.get("Hiera-T-LP")
    assert (timm_spec.output, published.output, probe.output) == ("logits", "probs", "probs")
    assert (published.data.crop_pct, published.data.interpolation) == (1.0, "bilinear")  # Resize 224, crop 224
    assert (probe.data.crop_pct, probe.data.interpolation) == (0.875, "bicubic")  # Resize 256 bicubic, crop 224
    assert published.hf_hub_id == timm_spec.hf_hub_id and probe.hf_hub_id is None and probe.url is None


def test_hub_layout_converts_like_timm_layout(timm_module):
    """torch.hub hiera names (``norm``, ``head.projection``; timm's checkpoint filter renames them) give the same
    parameters as timm's names, whose conversion the parity test above checks."""
    import torch

    from converters import load
    from jaxquba import zoo

    torch.manual_seed(0)
    state = timm_module.create_model("hiera_tiny_224", pretrained=False).state_dict()
    hub_names = {"head.norm.": "norm.", "head.fc.": "head.projection."}
    hub_state = {next((k.replace(a, b) for a, b in hub_names.items() if k.startswith(a)), k): v
                 for k, v in state.items()}
    assert hub_state.keys() != state.keys()
    timm_params = load.convert_state_dict(zoo.get("Hiera-T"), state, "timm layout")
    hub_params = load.convert_state_dict(zoo.get("Hiera-T-LP"), hub_state, "hub layout")
    assert jax.tree.structure(timm_params) == jax.tree.structure(hub_params)
    for a, b in zip(jax.tree.leaves(timm_params), jax.tree.leaves(hub_params)):
        np.testing.assert_array_equal(a, b)
