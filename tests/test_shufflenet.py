"""ShuffleNet V2 parity with torchvision (random init, real images): torchvision is the only source of its ImageNet
weights (published rows 30-33)."""

import jax
import numpy as np
import pytest

from converters.load import expected_params
from jaxquba import zoo
from parity_util import check_torchvision

BUILDERS = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def test_shufflenet_parity(timm_module, shared_data):
    """x0.5 (the smallest: both unit kinds, the shuffle, every stage); the other widths differ only in channel
    counts, which the parameter counts below pin."""
    check_torchvision(timm_module, "shufflenet_v2_x0_5.tv_in1k", "shufflenet_v2_x0_5", shared_data, n_images=2)


@pytest.mark.parametrize("builder", BUILDERS)
def test_parameter_count_matches_torchvision(builder, timm_module):
    import torch
    import torchvision

    spec = zoo.get(f"{builder}.tv_in1k")
    with torch.device("meta"):
        reference = getattr(torchvision.models, builder)()
    assert spec.num_params == sum(p.numel() for p in reference.parameters())
    ours = sum(int(np.prod(leaf.shape)) for path, leaf in jax.tree_util.tree_leaves_with_path(expected_params(spec))
               if path[-1].key not in ("mean", "var"))  # BN running statistics are buffers in PyTorch
    assert ours == spec.num_params
