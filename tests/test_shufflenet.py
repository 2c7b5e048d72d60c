"""ShuffleNet V2 parity with torchvision (random init, real images): torchvision is the only source of its ImageNet
weights (published rows 30-33)."""

import pytest

from parity_util import assert_torchvision_param_count, check_torchvision

BUILDERS = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def test_shufflenet_parity(timm_module, shared_data):
    """x0.5 (the smallest: both unit kinds, the shuffle, every stage); the other widths differ only in channel
    counts, which the parameter counts below pin."""
    check_torchvision(timm_module, "shufflenet_v2_x0_5.tv_in1k", "shufflenet_v2_x0_5", shared_data, n_images=2)


@pytest.mark.parametrize("builder", BUILDERS)
def test_parameter_count_matches_torchvision(builder, timm_module):
    assert_torchvision_param_count(f"{builder}.tv_in1k", builder)
