"""Inception-ResNet-v2 parity with timm (random init, real images; published row 20)."""

from parity_util import assert_parity, compare, small_variant


def test_inception_resnet_v2_parity(timm_module, shared_data):
    """One residual block of each kind before the last Block8: timm's ``inception_resnet_v2`` with its ``repeat``
    Sequentials cut to their first block, against the Flax module with the same counts (the full model repeats
    the same blocks 10, 20 and 9 times)."""
    import torch

    torch.manual_seed(0)
    reference = timm_module.create_model("inception_resnet_v2", pretrained=False)
    reference.repeat, reference.repeat_1, reference.repeat_2 = (reference.repeat[:1], reference.repeat_1[:1],
                                                                reference.repeat_2[:1])
    spec = small_variant("inception_resnet_v2.tf_in1k", repeats=(1, 1, 1))
    assert_parity(*compare(timm_module, spec, reference, shared_data, n_images=1))


def test_full_model_has_timms_parameter_count():
    from jaxquba import models, zoo

    spec = zoo.get("inception_resnet_v2.tf_in1k")
    assert models.count_params(spec) == spec.num_params
