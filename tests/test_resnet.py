"""ResNet family parity with timm (random init with randomised batch-norm statistics, real images), including the
variants the family's config builds: ResNeXt, Wide ResNet, ResNet-D and SENet-154 (small variants where the full
network only adds depth)."""

import pytest

from parity_util import assert_parity, check_timm, check_torchvision, parity_logits, small_variant

CASES = [
    "resnet18.a1_in1k",  # basic blocks
    "resnet50.tv_in1k",  # bottleneck blocks, projection shortcut in every stage
]
LARGE_CASES = ["resnet152.a1h_in1k"]


@pytest.mark.parametrize("name", CASES)
def test_resnet_parity(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=2))


@pytest.mark.large
@pytest.mark.parametrize("name", LARGE_CASES)
def test_resnet_parity_large(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=1))


# One block per stage keeps every code path (grouped 3x3, deep stem, both shortcut kinds, SE) at a fraction of the
# cost; the registered depths differ only in how often the same block repeats.
SMALL = (1, 1, 1, 1)


@pytest.mark.parametrize("name", ["resnext50_32x4d.tv_in1k", "wide_resnet50_2.tv_in1k", "resnet50d.gluon_in1k",
                                  "senet154.gluon_in1k"])
def test_resnet_variant_parity(name, timm_module, shared_data):
    check_timm(timm_module, small_variant(name, depths=SMALL), shared_data, n_images=1, layers=SMALL)


def test_dino_resnet50_rows_read_torchvisions_layout(timm_module, shared_data):
    """ResNet50-DINO-LP's weights are DINO's torchvision-layout ResNet-50 with its linear classifier as ``fc``: the
    published spec against torchvision's resnet50 (random init), through the spec's bicubic Resize 256 / crop 224."""
    check_torchvision(timm_module, "ResNet50-DINO-LP", "resnet50", shared_data, n_images=1)
