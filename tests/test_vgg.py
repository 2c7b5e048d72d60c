"""VGG parity with timm (random init, real photo at 224 px): without and with batch norm. The depth only repeats
the same conv layer, so VGG-11 covers the code paths of 13/16/19 (their layouts are checked by the parameter
counts in test_zoo)."""

import pytest

from parity_util import check_timm


@pytest.mark.parametrize("name", ["vgg11.tv_in1k", "vgg11_bn.tv_in1k"])
def test_vgg_parity(name, timm_module, shared_data):
    check_timm(timm_module, name, shared_data, n_images=1)
