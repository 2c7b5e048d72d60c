"""EVA-02 parity with timm (random init, SwiGLU gates redrawn, real images) and its RoPE table against timm's."""

import numpy as np
import pytest

from jaxquba.models.eva import rope_table
from parity_util import assert_parity, parity_logits


@pytest.mark.parametrize("name", [
    "eva02_tiny_patch14_336.mim_in22k_ft_in1k",  # fused qkv and SwiGLU, RoPE rescaled from 16x16 to 24x24
])
def test_eva02_parity(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=2))


@pytest.mark.large
def test_eva02_base_parity(timm_module, shared_data):
    """Separate q/k/v projections and the split SwiGLU with its inner LayerNorm (``scale_mlp``)."""
    assert_parity(*parity_logits(timm_module, "eva02_base_patch14_448.mim_in22k_ft_in1k", shared_data, n_images=1))


@pytest.mark.parametrize("arch,grid", [("eva02_tiny_patch14_336", 24), ("eva02_base_patch14_448", 32)])
def test_rope_table_matches_timm(arch, grid, timm_module):
    """sin/cos of the same float32 angles: equal to float32 rounding."""
    model = timm_module.create_model(arch, pretrained=False)
    sin, cos = rope_table(grid, 16, model.embed_dim // model.blocks[0].attn.num_heads)
    expected = model.rope.get_embed().numpy()
    np.testing.assert_allclose(np.concatenate([sin, cos], axis=-1), expected, atol=1e-6)
