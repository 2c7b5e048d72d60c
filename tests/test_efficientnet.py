"""EfficientNet / EfficientNet-Lite parity with timm (random init, real images): one model per distinct code path.

The criterion and the random-state redraw (BN running statistics away from (0, 1), random norm scales and biases)
live in ``parity_util``; see its docstring for why the tolerance is right.
"""

import jax
import numpy as np
import pytest

from converters.load import expected_params
from jaxquba import zoo
from parity_util import assert_parity, parity_logits

CASES = [
    "efficientnet_b0.ra_in1k",        # swish, squeeze-excite, symmetric PyTorch padding, BN eps 1e-5
    "tf_efficientnet_b0.ns_jft_in1k",  # TF 'SAME' asymmetric padding, BN eps 1e-3
    "tf_efficientnet_lite0.in1k",      # relu6, no squeeze-excite, fixed stem/head
]
LARGE_CASES = [
    "tf_efficientnet_b3.ns_jft_in1k",  # width 1.2 / depth 1.4 rounding at 300 px (odd SAME paddings)
]


@pytest.mark.parametrize("name", CASES)
def test_efficientnet_parity(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=4))


@pytest.mark.large
@pytest.mark.parametrize("name", LARGE_CASES)
def test_efficientnet_parity_large(name, timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, name, shared_data, n_images=2))


@pytest.mark.parametrize("arch", sorted({s.arch for s in zoo.all_specs() if s.family == "efficientnet"}))
def test_parameter_count_matches_timm(arch):
    """Every registered width/depth scale has timm's parameter count (recorded from timm.create_model), so the
    channel rounding and depth scaling rules hold beyond the variants run above. BN running stats are buffers in
    PyTorch, so they are left out of the count."""
    spec = zoo.get(arch)
    tree = expected_params(spec)
    count = sum(int(np.prod(leaf.shape)) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
                if path[-1].key not in ("mean", "var"))
    assert count == spec.num_params


def test_efficientnet_torchvision_layout_parity(timm_module, shared_data):
    """torchvision's IMAGENET1K_V1 EfficientNets (published rows 45-52) are timm's efficientnet_b* in torchvision's
    layout: random-init torchvision efficientnet_b0 against the converted Flax model."""
    from parity_util import check_torchvision

    check_torchvision(timm_module, "efficientnet_b0.tv_in1k", "efficientnet_b0", shared_data, n_images=2)
