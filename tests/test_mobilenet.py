"""MobileNetV2 / MobileNetV3-Large / MobileNetV3-Small parity with timm (random init, real images).

MobileNetV3 is the only family with hard-swish, hard-sigmoid squeeze-excite gates, SE widths rounded to multiples of
8 of the expanded channels and a pool-then-conv head, so it gets its own case; criterion and random-state redraw
as in ``parity_util``.
"""

import jax
import numpy as np
import pytest

from converters.load import expected_params
from jaxquba import zoo
from parity_util import assert_parity, parity_logits

CASES = ["mobilenetv2_100.ra_in1k", "mobilenetv3_large_100.ra_in1k"]
# MobileNetV3-Small's blocks are checked against torchvision's independent implementation below (its timm layout
# converts by module names like Large's, checked here).


@pytest.mark.parametrize("name", CASES)
def test_mobilenet_parity(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=4))


@pytest.mark.parametrize("name", CASES + ["mobilenetv3_small_100.lamb_in1k"])
def test_parameter_count_matches_timm(name):
    spec = zoo.get(name)
    count = sum(int(np.prod(leaf.shape)) for path, leaf in jax.tree_util.tree_leaves_with_path(expected_params(spec))
                if path[-1].key not in ("mean", "var"))  # BN running statistics are buffers in PyTorch
    assert count == spec.num_params


def test_aliases():
    assert zoo.resolve("mnv2") == "mobilenetv2_100.ra_in1k"
    assert zoo.resolve("mnv3_large") == zoo.resolve("mobilenetv3_large_100") == "mobilenetv3_large_100.ra_in1k"


def test_mobilenetv2_torchvision_layout_parity(timm_module, shared_data):
    """torchvision's MobileNetV2 (published row 29) on timm's architecture: random-init torchvision mobilenet_v2."""
    from parity_util import check_torchvision

    check_torchvision(timm_module, "mobilenetv2_100.tv_in1k", "mobilenet_v2", shared_data, n_images=2)


def test_mobilenetv3_large_torchvision_layout_parity(timm_module, shared_data):
    """torchvision's MobileNetV3-Large (published row 36) on timm's architecture (its Linear head as a 1x1 conv)."""
    from parity_util import check_torchvision

    check_torchvision(timm_module, "mobilenetv3_large_100.tv_in1k", "mobilenet_v3_large", shared_data, n_images=2)


def test_mobilenetv3_small_torchvision_layout_parity(timm_module, shared_data):
    """torchvision's MobileNetV3-Small (published row 35) on timm's architecture (SE in the first block)."""
    from parity_util import check_torchvision

    check_torchvision(timm_module, "mobilenetv3_small_100.tv_in1k", "mobilenet_v3_small", shared_data, n_images=2)
