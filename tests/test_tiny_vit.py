"""TinyViT parity with timm (random init with redrawn attention biases and batch-norm statistics, real images)."""

from parity_util import assert_parity, parity_logits


def test_tiny_vit_5m_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "tiny_vit_5m_224.in1k", shared_data, n_images=2))
