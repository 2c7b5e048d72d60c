"""ViT / DeiT / DeiT-III parity with timm (random init, real images): one model per distinct code path."""

import pytest

from parity_util import assert_parity, parity_logits

CASES = [
    "vit_tiny_patch16_224.augreg_in21k_ft_in1k",   # class token, patch 16, 224
    "vit_small_patch32_384.augreg_in21k_ft_in1k",  # patch 32 at 384: 144-patch position embedding
    "vit_medium_patch16_gap_256.sw_in12k_ft_in1k",  # no class token, average pool, no qkv bias, layer scale
    "vit_medium_patch16_reg4_gap_256.sbb_in1k",    # register tokens, fc_norm after pooling, patch-only pos-embed
    "deit3_small_patch16_224.fb_in1k",             # DeiT-III: layer scale, pos-embed without the class token
    "deit_tiny_distilled_patch16_224.fb_in1k",     # distillation token and averaged heads
]
LARGE_CASES = [
    "vit_large_patch16_224.augreg_in21k_ft_in1k",  # 24 blocks: error growth with depth
]


@pytest.mark.parametrize("name", CASES)
def test_vit_parity(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=2))


@pytest.mark.large
@pytest.mark.parametrize("name", LARGE_CASES)
def test_vit_parity_large(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=1))
