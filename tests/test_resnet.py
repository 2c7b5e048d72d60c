"""ResNet parity with timm (random init with randomised batch-norm statistics, real images)."""

import pytest

from parity_util import assert_parity, parity_logits

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
