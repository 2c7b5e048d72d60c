"""Inception-v3 parity with torchvision (random init, real images; published row 18). torchvision's model keeps its
auxiliary classifier in the state dict, as its checkpoint does, and runs without ``transform_input`` (whose effect
is the spec's inception normalisation)."""

from parity_util import check_torchvision


def test_inception_v3_parity(timm_module, shared_data):
    check_torchvision(timm_module, "inception_v3.tv_in1k", "inception_v3", shared_data, n_images=1,
                      init_weights=True)


def test_parameter_counts(timm_module):
    """timm's count (the evaluated network) plus the auxiliary classifier is torchvision's count (the table's)."""
    import torch
    import torchvision

    from jaxquba import models, zoo
    from jaxquba.models.inception_v3 import INCEPTION_V3_AUX_PARAMS

    spec = zoo.get("inception_v3.tv_in1k")
    with torch.device("meta"):
        reference = torchvision.models.inception_v3(init_weights=False)
    assert models.count_params(spec) == spec.num_params
    assert spec.num_params + INCEPTION_V3_AUX_PARAMS == sum(p.numel() for p in reference.parameters())
