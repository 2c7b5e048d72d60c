"""Swin-V2 parity with timm (random init with redrawn log scales and q/v biases, real images)."""

import numpy as np
import pytest

from jaxquba.models.swinv2 import relative_coords_table
from parity_util import assert_parity, parity_logits


def test_swinv2_tiny_parity(timm_module, shared_data):
    """Window 8 at 256 px: shifted windows in stages 1-3, one unshifted 8x8 window in stage 4."""
    assert_parity(*parity_logits(timm_module, "swinv2_tiny_window8_256.ms_in1k", shared_data, n_images=2))


@pytest.mark.parametrize("window,pretrained", [(16, 12), (8, 6), (8, 0), (16, 0)])
def test_relative_coords_table_matches_timm(window, pretrained, timm_module):
    """The continuous-bias coordinates, including the fine-tuned-window case (``12to16`` models) that the tiny
    parity model does not exercise; float32 on both sides, log2 of the same values: equal to 1 ulp."""
    from timm.models.swin_transformer_v2 import WindowAttention

    attn = WindowAttention(32, (window, window), 2, pretrained_window_size=(pretrained, pretrained))
    expected = attn.relative_coords_table.reshape(-1, 2).numpy()
    np.testing.assert_allclose(relative_coords_table(window, pretrained), expected, rtol=1e-6, atol=1e-7)
