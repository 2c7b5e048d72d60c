"""Xception parity with timm's ``legacy_xception`` (random init, real images; published row 28)."""

from parity_util import check_timm


def test_xception_parity(timm_module, shared_data):
    check_timm(timm_module, "legacy_xception.tf_in1k", shared_data, n_images=1)
