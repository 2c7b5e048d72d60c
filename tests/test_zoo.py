"""The model registry against timm: every spec's data config and parameter count, aliases, unknown names.

Each registered spec must carry exactly the preprocessing of its weights (timm's ``pretrained_cfg`` for the full
name) and timm's parameter count; the timm models are built on the meta device, so no memory is allocated and the
whole registry is checked in seconds.
"""

from __future__ import annotations

import functools

import pytest

from jaxquba import zoo
from jaxquba.errors import UserError

SPECS = zoo.all_specs()


@functools.lru_cache(maxsize=None)
def timm_param_count(timm, arch: str, num_classes: int) -> int:
    import torch

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    return sum(p.numel() for p in model.parameters())


def _timm_cfg(timm, spec: zoo.ModelSpec):
    if not timm.is_model(spec.arch):
        pytest.skip(f"{spec.name} is not a timm model")
    return timm.models.get_pretrained_cfg(spec.name)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_spec_matches_timm(spec, timm_module):
    cfg = _timm_cfg(timm_module, spec)
    assert cfg is not None, f"timm has no pretrained tag {spec.name}"
    data = spec.data
    assert cfg.input_size == (3, data.input_size, data.input_size)
    assert (cfg.crop_pct, cfg.crop_mode, cfg.interpolation) == (data.crop_pct, data.crop_mode, data.interpolation)
    assert tuple(cfg.mean) == data.mean and tuple(cfg.std) == data.std
    assert cfg.num_classes == data.num_classes
    if spec.hf_hub_id is not None:
        assert spec.hf_hub_id == cfg.hf_hub_id
    assert spec.num_params == timm_param_count(timm_module, spec.arch, data.num_classes)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_arch_name_resolves_to_timm_default_tag(spec, timm_module):
    if not timm_module.is_model(spec.arch):
        pytest.skip(f"{spec.name} is not a timm model")
    default = f"{spec.arch}.{timm_module.models.get_pretrained_cfg(spec.arch).tag}"
    expected = default if default in {s.name for s in SPECS} else zoo.resolve(spec.arch)
    assert zoo.resolve(spec.arch) == expected
    assert zoo.get(spec.name) is spec


def test_every_alias_resolves_to_its_spec():
    for spec in SPECS:
        for alias in spec.aliases:
            assert zoo.get(alias) is spec, alias
    assert zoo.get("vit_b16").name == "vit_base_patch16_224.augreg2_in21k_ft_in1k"
    assert zoo.get("resnet50").name == "resnet50.a1_in1k"
    assert zoo.get("convnext_t").name == "convnext_tiny.fb_in1k"
    assert zoo.get("swin_t").name == "swin_tiny_patch4_window7_224.ms_in1k"


def test_aliases_do_not_hide_other_models():
    """An alias is never a full name, and an alias spelled like an arch name points to a spec of that arch."""
    full_names = {s.name for s in SPECS}
    archs = {s.arch for s in SPECS}
    for spec in SPECS:
        for alias in spec.aliases:
            assert alias not in full_names, alias
            assert alias not in archs or spec.arch == alias, (alias, spec.name)


def test_unknown_name_lists_close_names():
    with pytest.raises(UserError) as err:
        zoo.get("vit_b61")
    message = str(err.value)
    assert "unknown model 'vit_b61'" in message and "vit_b16" in message
    with pytest.raises(UserError, match="resnet50"):
        zoo.get("resnet05")
