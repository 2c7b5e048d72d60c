"""RegNetY parity on a real photo, random init: against timm (timm's layout: hub and RSB checkpoints) and against
torchvision (torchvision's layout: the IMAGENET1K_V1 weights the published RegNet-Y rows evaluated). RegNetY-400MF
is small; the larger archs differ only in their stage table, checked by the parameter counts in test_zoo."""

from parity_util import check_timm, check_torchvision


def test_regnet_parity_timm_layout(timm_module, shared_data):
    check_timm(timm_module, "regnety_040.pycls_in1k", shared_data, n_images=1)


def test_regnet_parity_torchvision_layout(timm_module, shared_data):
    check_torchvision(timm_module, "regnety_004.tv_in1k", "regnet_y_400mf", shared_data, n_images=2)
