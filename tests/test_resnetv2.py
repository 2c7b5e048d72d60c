"""ResNet-V2 / BiT parity with timm (random init, real images; published rows 63-66)."""

from parity_util import assert_parity, compare, small_variant


def test_bit_parity(timm_module, shared_data):
    """One pre-activation bottleneck per stage (every stage's projection shortcut and stride) at width factor 1 and
    BiT's 448 px: the full models differ only in depth and width. timm's ``resnetv2_50x1_bit`` fixes its depths, so
    the reference is its class with the arguments of timm's BiT constructor ('fixed' stem, StdConv2d eps 1e-8)."""
    from functools import partial

    import torch
    from timm.layers import StdConv2d
    from timm.models.resnetv2 import ResNetV2

    spec = small_variant("resnetv2_50x1_bit.goog_in21k_ft_in1k", depths=(1, 1, 1, 1))
    torch.manual_seed(0)
    reference = ResNetV2(layers=[1, 1, 1, 1], width_factor=1, stem_type="fixed",
                         conv_layer=partial(StdConv2d, eps=1e-8))
    assert_parity(*compare(timm_module, spec, reference, shared_data, n_images=2))
