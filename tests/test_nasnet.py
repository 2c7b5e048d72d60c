"""NASNet-A Large parity with timm (random init, real images; published row 34)."""

from parity_util import assert_parity, compare, small_variant


def test_nasnet_parity(timm_module, shared_data):
    """Every cell of the full network at 331 px, narrowed (stem 16 channels, 384 features: cell widths 4 to 64
    instead of 42 to 672) in both timm's ``NASNetALarge`` and the Flax module. timm wires its 22 cells in a fixed
    forward, so the depth cannot shrink: compiling them makes this test cost about 100 s on a loaded 2-core CPU.
    Every width is a multiple of ``num_features / 24``, so the strict conversion of the narrow network checks the
    full one's parameter shapes too."""
    import torch
    from timm.models.nasnet import NASNetALarge

    torch.manual_seed(0)
    reference = NASNetALarge(stem_size=16, num_features=384)
    spec = small_variant("nasnetalarge.tf_in1k", stem_size=16, num_features=384)
    assert_parity(*compare(timm_module, spec, reference, shared_data, n_images=1))

