"""PiT parity with timm (random init, real images): overlapping patch embedding, pooling between stages."""

from parity_util import assert_parity, parity_logits


def test_pit_ti_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "pit_ti_224.in1k", shared_data, n_images=2))
