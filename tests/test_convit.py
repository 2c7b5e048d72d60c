"""ConViT parity with timm (random init with redrawn gates, identity value maps redrawn, real images)."""

from parity_util import assert_parity, parity_logits


def test_convit_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "convit_tiny.fb_in1k", shared_data, n_images=2))
