"""EfficientFormer parity with timm (random init, real images): pooling blocks, flattening, LeViT attention with
per-offset biases, averaged class and distillation heads."""

from parity_util import assert_parity, parity_logits


def test_efficientformer_l1_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "efficientformer_l1.snap_dist_in1k", shared_data, n_images=2))
