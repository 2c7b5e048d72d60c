"""XCiT parity with timm (random init with redrawn temperatures and layer scales, real images)."""

from parity_util import assert_parity, check_timm, parity_logits, small_variant


def test_xcit_nano_parity(timm_module, shared_data):
    """Class-attention blocks normalising only the class token."""
    assert_parity(*parity_logits(timm_module, "xcit_nano_12_p16_224.fb_in1k", shared_data, n_images=2))


def test_xcit_small_two_blocks_parity(timm_module, shared_data):
    """The published models' path (``tokens_norm``: every token normalised before the class MLP), 2 XCA blocks."""
    check_timm(timm_module, small_variant("xcit_small_24_p16_224.fb_in1k", depth=2), shared_data, depth=2)
