"""Hiera parity with timm (random init, real images): unrolled token order, mask-unit and global attention, query
and residual max-pooling."""

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
