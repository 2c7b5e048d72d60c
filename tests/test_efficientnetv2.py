"""EfficientNetV2 parity with timm on a real photo, random init: the official small model (fused-MBConv ``er`` and
residual ``cn`` stages, SAME padding) and timm's RW-S variant (``er`` first stage, symmetric padding), each with
one block per stage entry at a reduced resolution; M and L add stages and depth, checked by the parameter counts in
test_zoo."""

import dataclasses

import pytest

from jaxquba import zoo
from parity_util import check_timm


@pytest.mark.parametrize("name", ["tf_efficientnetv2_s.in1k", "efficientnetv2_rw_s.ra2_in1k"])
def test_efficientnetv2_parity(name, timm_module, shared_data):
    spec = zoo.get(name)
    small = dataclasses.replace(spec, name=f"{name}@small", data=dataclasses.replace(spec.data, input_size=192),
                                config=zoo.config(**{**spec.config_dict(), "depth_multiplier": 0.1}))
    check_timm(timm_module, small, shared_data, n_images=1, depth_multiplier=0.1)
