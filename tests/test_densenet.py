"""DenseNet parity with timm on real photos, random init: DenseNet-121 at 224 px (every code path: dense layers,
transitions, the final norm); 161/169/201 change growth, stem width and block depths, checked by the parameter
counts in test_zoo."""

from parity_util import check_timm


def test_densenet_parity(timm_module, shared_data):
    check_timm(timm_module, "densenet121.tv_in1k", shared_data, n_images=2)
