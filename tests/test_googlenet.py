"""GoogLeNet parity with torchvision (random init, real images): torchvision is the only source of its ImageNet
weights (published row 1). The reference keeps torchvision's defaults for random init (auxiliary classifiers in the
state dict, as in the checkpoint; no ``transform_input``, whose effect the spec's inception normalisation is)."""

from parity_util import check_torchvision


def test_googlenet_parity(timm_module, shared_data):
    check_torchvision(timm_module, "googlenet.tv_in1k", "googlenet", shared_data, n_images=2, init_weights=True)
