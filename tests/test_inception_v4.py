"""Inception-v4 parity with timm (random init, real images; published row 19)."""

from parity_util import assert_parity, compare, small_variant


def test_inception_v4_parity(timm_module, shared_data):
    """One block of each kind (stem, InceptionA, ReductionA, InceptionB, ReductionB, InceptionC): timm's
    ``inception_v4`` with its ``features`` Sequential cut to those blocks, against the Flax module with the same
    counts (the full model repeats the same blocks: 4 A, 7 B, 3 C)."""
    import torch

    torch.manual_seed(0)
    reference = timm_module.create_model("inception_v4", pretrained=False)
    keep = (0, 1, 2, 3, 4, 5, 6, 10, 11, 18, 19)  # stem, A, reduction A, B, reduction B, C
    reference.features = torch.nn.Sequential(*[reference.features[i] for i in keep])
    spec = small_variant("inception_v4.tf_in1k", counts=(1, 1, 1))
    assert_parity(*compare(timm_module, spec, reference, shared_data, n_images=1))


def test_full_model_has_timms_parameter_count():
    from jaxquba import models, zoo

    spec = zoo.get("inception_v4.tf_in1k")
    assert models.count_params(spec) == spec.num_params
