"""CoaT-Lite parity with timm (random init, real images): shared conv position encodings, factorised attention."""

from parity_util import assert_parity, parity_logits


def test_coat_lite_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "coat_lite_tiny.in1k", shared_data, n_images=2))
