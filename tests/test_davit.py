"""DaViT parity with timm (random init, real images): window attention, channel attention, conv position encodings."""

from parity_util import assert_parity, parity_logits


def test_davit_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "davit_tiny.msft_in1k", shared_data, n_images=2))
