"""Swin v1 parity with timm (random init with redrawn relative-position tables, real images)."""

import pytest

from parity_util import assert_parity, parity_logits


def test_swin_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "swin_tiny_patch4_window7_224.ms_in1k", shared_data, n_images=2))


@pytest.mark.large
def test_swin_base_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "swin_base_patch4_window7_224.ms_in22k_ft_in1k", shared_data,
                                 n_images=1))
