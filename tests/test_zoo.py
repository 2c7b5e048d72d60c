"""The model registry against timm: every spec's data config and parameter count, aliases, unknown names.

Each registered spec must carry exactly the preprocessing of its weights (timm's ``pretrained_cfg`` for the full
name) and timm's parameter count; the timm models are built on the meta device, so no memory is allocated and the
whole registry is checked in seconds.
"""

from __future__ import annotations

import functools
import re

import pytest

from jaxquba import models, zoo
from jaxquba.errors import UserError

# The built-in registry only: other test modules register models of their own (tests/untrusted_tiny_model.py) when
# pytest imports them, and those are not timm's. A built-in family converts with a module of the `converters` package.
SPECS = [s for s in zoo.all_specs() if models.family(s.family).converter.startswith("converters.")]
# Published names with the peer's own preprocessing are specs of their own, checked in test_published.py.
PUBLISHED_SPECS = {r.published for r in zoo.published_rows()}
BCOS_SPECS = [s for s in SPECS if s.family.startswith("bcos_") and s.name not in PUBLISHED_SPECS]  # bcos, below
TIMM_SPECS = [s for s in SPECS
              if s.family not in ("clip", "siglip") and s not in BCOS_SPECS and s.name not in PUBLISHED_SPECS]
CLIP_SPECS = [s for s in SPECS if s.family == "clip"]  # open_clip, below; SigLIP is counted in tests/test_siglip.py


@functools.lru_cache(maxsize=None)
def timm_param_count(timm, arch: str, num_classes: int) -> int:
    import torch

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("spec", TIMM_SPECS, ids=lambda s: s.name)
def test_spec_matches_timm(spec, timm_module):
    try:
        cfg = timm_module.models.get_pretrained_cfg(spec.name)
    except RuntimeError:  # a tag timm does not know: only release checkpoints with a download address may be one
        cfg = None
    if cfg is None:
        assert spec.url, f"timm has no pretrained tag {spec.name} and the spec no download address"
        # Weights only torchvision ships, on an architecture timm lacks, are checked against torchvision in their
        # family's tests; on a timm architecture (RSB release files, torchvision RegNets) timm counts them here.
        if timm_module.is_model(spec.arch):
            assert spec.num_params == timm_param_count(timm_module, spec.arch, spec.data.num_classes)
        return
    data = spec.data
    assert cfg.input_size == (3, data.input_size, data.input_size)
    assert (cfg.crop_pct, cfg.crop_mode, cfg.interpolation) == (data.crop_pct, data.crop_mode, data.interpolation)
    assert tuple(cfg.mean) == data.mean and tuple(cfg.std) == data.std
    assert cfg.num_classes == data.num_classes
    if spec.hf_hub_id is not None:
        assert spec.hf_hub_id == cfg.hf_hub_id
    assert spec.num_params == timm_param_count(timm_module, spec.arch, data.num_classes)


@pytest.mark.parametrize("spec", TIMM_SPECS, ids=lambda s: s.name)
def test_arch_name_resolves_to_timm_default_tag(spec, timm_module):
    cfg = timm_module.models.get_pretrained_cfg(spec.arch)
    default = f"{spec.arch}.{cfg.tag}" if cfg is not None else None  # None: an architecture only torchvision has
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


@pytest.mark.parametrize("spec", CLIP_SPECS, ids=lambda s: s.name)
def test_clip_spec_matches_open_clip(spec, timm_module):
    """Parameter count (image + text towers + logit scale, as the QUBA Params column counts them), preprocessing
    and hub repository of each CLIP spec against open_clip's own model and pretrained configs."""
    from converters.torch_env import import_open_clip
    from jaxquba.models.clip import OPEN_CLIP_ARCH, REPARAMETERISED_AWAY

    open_clip = import_open_clip()
    arch = OPEN_CLIP_ARCH[spec.name]
    model = open_clip.create_model(arch, pretrained=None, device="meta")
    # MobileCLIP: the reparameterised count (tests/test_mobileclip.py checks the difference)
    assert spec.num_params == sum(p.numel() for p in model.parameters()) - REPARAMETERISED_AWAY.get(spec.name, 0)
    pretrained = [open_clip.get_pretrained_cfg(arch, tag) for tag in open_clip.list_pretrained_tags_by_model(arch)]
    hubs = {cfg["hf_hub"].rstrip("/") for cfg in pretrained if cfg.get("hf_hub")}
    assert spec.hf_hub_id in hubs, (spec.hf_hub_id, hubs)
    cfg = next(c for c in pretrained if c.get("hf_hub", "").rstrip("/") == spec.hf_hub_id)
    data = spec.data
    assert (tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"]) == (data.mean, data.std, data.interpolation)
    assert model.visual.image_size in (data.input_size, (data.input_size, data.input_size))
    assert data.crop_pct == 1.0  # open_clip resizes the shorter side to the input size, then centre-crops


# Flax parameter counts traced at the registered depths (a few seconds each on CPU): one per block kind and per
# DenseNet width; the other depths repeat the same blocks, and their package counts are checked for every spec.
BCOS_TRACED = ("bcos_resnet18.in1k", "bcos_resnet50.in1k", "bcos_densenet121.in1k", "bcos_densenet161.in1k",
               "bcos_convnext_tiny.in1k")


@pytest.mark.parametrize("spec", BCOS_SPECS, ids=lambda s: s.name)
def test_bcos_spec_matches_the_package(spec, bcos_module, monkeypatch):
    """Parameter count of the package's model, the weights address its pretrained entrypoint (the one the peer
    calls) downloads, and the preprocessing of the package and the peer (Resize 256 bilinear, CenterCrop 224, no
    Normalize: the model encodes [x, 1 - x] itself)."""
    import torch

    class Fetched(Exception):
        pass

    def fetch(url, **kwargs):
        raise Fetched(url)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fetch)
    entrypoint = getattr(bcos_module.models.pretrained, spec.arch.removeprefix("bcos_"))
    with torch.device("meta"):
        model = entrypoint()
        with pytest.raises(Fetched) as fetched:
            entrypoint(pretrained=True)
    assert spec.num_params == sum(p.numel() for p in model.parameters())
    assert str(fetched.value) == spec.url
    resize = int(re.search(r"Resize\(size=(\d+), interpolation=bilinear", repr(model.transform)).group(1))
    assert spec.data == zoo.DataConfig(224, 224 / resize, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert "CenterCrop(size=(224, 224))" in repr(model.transform) and "Normalize" not in repr(model.transform)
    if spec.name in BCOS_TRACED:
        assert models.count_params(spec) == spec.num_params
