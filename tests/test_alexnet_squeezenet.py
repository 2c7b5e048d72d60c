"""AlexNet and SqueezeNet 1.1 parity with torchvision (random init, real images): torchvision is the only source of
their ImageNet weights (published rows 0 and 17)."""

from parity_util import check_torchvision


def test_alexnet_parity(timm_module, shared_data):
    check_torchvision(timm_module, "alexnet.tv_in1k", "alexnet", shared_data, n_images=2)


def test_squeezenet_parity(timm_module, shared_data):
    check_torchvision(timm_module, "squeezenet1_1.tv_in1k", "squeezenet1_1", shared_data, n_images=2)
