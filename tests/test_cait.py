"""CaiT parity with timm (random init with redrawn layer scales, real images): talking heads, class attention."""

from parity_util import assert_parity, parity_logits


def test_cait_xxs24_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "cait_xxs24_224.fb_dist_in1k", shared_data, n_images=2))
