"""BEiT parity with timm (random init with redrawn relative-position tables and layer scales, real images).

BEiT and BEiT v2 share every code path (only weights and normalisation differ), so one model covers both; timm has
no BEiT smaller than Base.
"""

from parity_util import assert_parity, parity_logits


def test_beitv2_base_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "beitv2_base_patch16_224.in1k_ft_in1k", shared_data, n_images=1))
