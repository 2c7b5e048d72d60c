"""Inception-v4 parity with timm (random init, real images; published row 19)."""

from parity_util import check_timm


def test_inception_v4_parity(timm_module, shared_data):
    check_timm(timm_module, "inception_v4.tf_in1k", shared_data, n_images=1)
