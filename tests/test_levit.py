"""LeViT parity with timm (random init with redrawn batch norms and attention biases, real images): LinearNorm
attention with per-offset biases, shrinking attention between stages, averaged distillation head."""

from parity_util import assert_parity, parity_logits


def test_levit_128s_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "levit_128s.fb_dist_in1k", shared_data, n_images=2))
