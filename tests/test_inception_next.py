"""InceptionNeXt parity with timm (random init with redrawn layer scales and batch-norm statistics, real images):
a shortened tiny runs every code path (split inception depthwise mixer, BN + 2x2 downsampling, MLP head)."""

from parity_util import check_timm, small_variant


def test_inception_next_parity(timm_module, shared_data):
    spec = small_variant("inception_next_tiny.sail_in1k", depths=(1, 1, 2, 1))
    check_timm(timm_module, spec, shared_data, n_images=2, depths=(1, 1, 2, 1))
