"""MnasNet parity with torchvision (random init, real images): torchvision's MNASNet is the only source of its
ImageNet weights (published rows 41-44)."""

import pytest

from parity_util import assert_torchvision_param_count, check_torchvision


def test_mnasnet_parity(timm_module, shared_data):
    """Width 0.5 (torchvision's smallest; every stack, the stem scaled with alpha); the other widths differ only in
    channel counts, which the parameter counts below pin."""
    check_torchvision(timm_module, "mnasnet0_5.tv_in1k", "mnasnet0_5", shared_data, n_images=2)


@pytest.mark.parametrize("builder", ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"])
def test_parameter_count_matches_torchvision(builder, timm_module):
    assert_torchvision_param_count(f"{builder}.tv_in1k", builder)
