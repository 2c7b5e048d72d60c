"""ConvNeXt v1 parity with timm (random init with redrawn layer scales, real images)."""

import pytest

from parity_util import assert_parity, parity_logits


def test_convnext_tiny_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "convnext_tiny.fb_in1k", shared_data, n_images=2))


@pytest.mark.large
def test_convnext_large_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "convnext_large.fb_in22k_ft_in1k", shared_data, n_images=1))


def test_convnext_torchvision_layout_parity(timm_module, shared_data):
    """torchvision's own ConvNeXt weights (published rows 148-154) on timm's architecture: random-init torchvision
    convnext_tiny against the converted Flax model."""
    from parity_util import check_torchvision

    check_torchvision(timm_module, "convnext_tiny.tv_in1k", "convnext_tiny", shared_data, n_images=2)


def test_convnextv2_parity(timm_module, shared_data):
    """ConvNeXt-V2 (GRN, no layer scale; published rows 172-179) on a shortened nano, whose MLP timm builds from
    1x1 convs (``conv_mlp``): random-init timm against the converted Flax model."""
    from parity_util import check_timm, small_variant

    spec = small_variant("convnextv2_nano.fcmae_ft_in1k", depths=(1, 1, 2, 1))
    check_timm(timm_module, spec, shared_data, n_images=2, depths=(1, 1, 2, 1))


def test_convnextv2_linear_mlp_parity(timm_module, shared_data):
    """The tiny/base/large layout of ConvNeXt-V2 (the MLP as Linears) on a shortened tiny."""
    from parity_util import check_timm, small_variant

    spec = small_variant("convnextv2_tiny.fcmae_ft_in22k_in1k", depths=(1, 1, 1, 1))
    check_timm(timm_module, spec, shared_data, n_images=2, depths=(1, 1, 1, 1))
