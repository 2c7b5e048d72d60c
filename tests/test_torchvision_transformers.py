"""torchvision's ViT, Swin and Swin-V2 (the published ViT-b-16 ..., Swin-T/S/B and SwinV2-*-W8 rows): their
layouts converted onto the timm-layout Flax modules, parity against torchvision's random-init models, and each spec's
preprocessing and parameter count against torchvision's weight metadata."""

import math

import pytest

from jaxquba import models, zoo
from parity_util import check_torchvision

TV_SPECS = {  # registered name -> torchvision builder and weights enum
    f"tv_{builder}.imagenet1k_v1": (builder, weights) for builder, weights in (
        ("vit_b_16", "ViT_B_16_Weights"), ("vit_l_16", "ViT_L_16_Weights"), ("vit_b_32", "ViT_B_32_Weights"),
        ("vit_l_32", "ViT_L_32_Weights"), ("swin_t", "Swin_T_Weights"), ("swin_s", "Swin_S_Weights"),
        ("swin_b", "Swin_B_Weights"), ("swin_v2_t", "Swin_V2_T_Weights"), ("swin_v2_s", "Swin_V2_S_Weights"),
        ("swin_v2_b", "Swin_V2_B_Weights"))
}


@pytest.mark.parametrize("name", sorted(TV_SPECS))
def test_spec_matches_torchvision_weights(name, timm_module):
    import torchvision

    weights = getattr(torchvision.models, TV_SPECS[name][1]).IMAGENET1K_V1
    spec, transform = zoo.get(name), weights.transforms()
    assert spec.url == weights.url and spec.hf_hub_id is None
    assert spec.data.input_size == transform.crop_size[0]
    assert math.floor(spec.data.input_size / spec.data.crop_pct) == transform.resize_size[0]
    assert spec.data.interpolation == transform.interpolation.value
    assert (spec.data.mean, spec.data.std) == (tuple(transform.mean), tuple(transform.std))
    # torchvision's Swin-V2 counts a k bias it zeroes in every forward; the module has none (one per block and width).
    cfg = spec.config_dict()
    zeroed_k_biases = (sum(d * cfg["embed_dim"] * 2 ** s for s, d in enumerate(cfg["depths"]))
                       if spec.family == "swinv2_tv" else 0)
    assert spec.num_params == weights.meta["num_params"] == models.count_params(spec) + zeroed_k_biases


def test_vit_b_16_torchvision_parity(timm_module, shared_data):
    check_torchvision(timm_module, "tv_vit_b_16.imagenet1k_v1", "vit_b_16", shared_data, n_images=1)


def test_swin_t_torchvision_parity(timm_module, shared_data):
    check_torchvision(timm_module, "tv_swin_t.imagenet1k_v1", "swin_t", shared_data, n_images=1)


def test_swin_v2_t_torchvision_parity(timm_module, shared_data):
    check_torchvision(timm_module, "tv_swin_v2_t.imagenet1k_v1", "swin_v2_t", shared_data, n_images=1)
