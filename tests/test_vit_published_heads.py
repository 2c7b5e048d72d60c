"""ViTs of the published table whose weights or heads are not timm's: DINOv2 and DINO linear probes, MAE's
fine-tuned ViT-B/16, and timm's CLIP image towers. Random-init parity on real photos, small depths (the code paths
do not depend on depth beyond the number of probed blocks).

The DINOv2 reference is timm's ViT with DINOv2's own token preparation put in place of timm's ``_pos_embed``
(``prepare_tokens_with_masks`` + ``interpolate_pos_encoding`` of facebookresearch/dinov2, which is not installed:
the class token is prepended, the 37 x 37 position grid is resampled with ``F.interpolate(scale_factor=(16 + 0.1)
/ 37, mode='bicubic', antialias=False)`` and added, then the registers are inserted after the class token) and the
hub's ``_LinearClassifierWrapper`` head; its state dict carries the hub's names (``backbone.*``,
``register_tokens``, ``mask_token``, ``linear_head.*``), so the converter reads exactly the hub layout. The DINO
reference is the peer's ``DINOModel.__call__`` on timm's ViT (``get_intermediate_layers``, interleaved
concatenation for ViT-B/16).
"""

from __future__ import annotations

import functools

import pytest

from jaxquba import zoo
from parity_util import assert_parity, check_timm, compare, small_variant

DINOV2_GRID = 37  # DINOv2 learns its position grid at 518 px / patch 14


def _linear_probe(timm, spec: zoo.ModelSpec, hub_tokens: bool, interleave: bool):
    """The PyTorch reference of a ``vit_lp`` / ``vit_dino_lp`` spec (random init; see the module docstring)."""
    import torch
    import torch.nn.functional as F

    cfg = spec.config_dict()
    dim, layers, avgpool, regs = cfg["embed_dim"], cfg["head_blocks"], cfg.get("head_avgpool", False), \
        cfg.get("reg_tokens", 0)
    torch.manual_seed(0)
    backbone = timm.create_model(
        "vit_small_patch14_dinov2" if hub_tokens else "vit_small_patch16_224", pretrained=False, num_classes=0,
        img_size=224, embed_dim=dim, depth=cfg["depth"], num_heads=cfg["num_heads"], reg_tokens=regs,
        no_embed_class=bool(regs))
    if hub_tokens:
        del backbone.pos_embed, backbone.reg_token
        backbone.pos_embed = torch.nn.Parameter(torch.zeros(1, 1 + DINOV2_GRID ** 2, dim))
        backbone.mask_token = torch.nn.Parameter(torch.randn(1, dim))
        if regs:
            backbone.register_tokens = torch.nn.Parameter(torch.randn(1, regs, dim) * 0.5)

        def prepare_tokens(x):  # DINOv2's prepare_tokens_with_masks on the patch tokens (B, N, C)
            x = torch.cat((backbone.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
            grid = int((x.shape[1] - 1) ** 0.5)
            patch_pos = backbone.pos_embed[:, 1:].reshape(1, DINOV2_GRID, DINOV2_GRID, dim).permute(0, 3, 1, 2)
            scale = (grid + 0.1) / DINOV2_GRID
            patch_pos = F.interpolate(patch_pos, scale_factor=(scale, scale), mode="bicubic", antialias=False)
            x = x + torch.cat((backbone.pos_embed[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, -1, dim)), 1)
            if regs:
                x = torch.cat((x[:, :1], backbone.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
            return x

        backbone._pos_embed = prepare_tokens

    class LinearProbe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.linear_head = torch.nn.Linear(dim * (layers + avgpool), spec.data.num_classes)

        def forward(self, x):
            outputs = self.backbone.get_intermediate_layers(x, n=layers, return_prefix_tokens=True, norm=True)
            features = torch.cat([prefix[:, 0] for _, prefix in outputs], dim=-1)
            if avgpool:
                mean = outputs[-1][0].mean(dim=1)
                features = (torch.stack((features, mean), dim=-1).reshape(x.shape[0], -1) if interleave
                            else torch.cat((features, mean), dim=-1))
            return self.linear_head(features)

    return LinearProbe()


@pytest.mark.parametrize("name", ["ViT-s-14-dinoV2-LP", "ViT-s-14-dinov2-reg-LP"])
def test_dinov2_linear_classifier_parity(name, timm_module, shared_data):
    spec = small_variant(name, depth=5)  # 5 blocks: the head probes the last 4
    model = _linear_probe(timm_module, spec, hub_tokens=True, interleave=False)
    assert_parity(*compare(timm_module, spec, model, shared_data))


@pytest.mark.parametrize("name,depth", [("ViT-s-16-DINO-LP", 4), ("ViT-b-16-DINO-LP", 1)])
def test_dino_linear_probe_parity(name, depth, timm_module, shared_data):
    spec = small_variant(name, depth=depth, embed_dim=384, num_heads=6)
    model = _linear_probe(timm_module, spec, hub_tokens=False, interleave=spec.config_dict().get("head_avgpool"))
    assert_parity(*compare(timm_module, spec, model, shared_data))


def test_mae_finetuned_parity(timm_module, shared_data):
    """MAE's ``models_vit`` with ``global_pool``: timm's ViT with average pooling and fc_norm, same names."""
    import torch

    spec = small_variant("vit-b-16-mae-ft", depth=1)
    torch.manual_seed(0)
    model = timm_module.create_model("vit_base_patch16_224", pretrained=False, depth=1, global_pool="avg",
                                     fc_norm=True)
    assert_parity(*compare(timm_module, spec, model, shared_data))


def test_mae_linear_probe_parity(timm_module, shared_data):
    """The peer's MAE probe: ``models_vit.vit_base_patch16()`` (class token, final norm) with its head wrapped as
    ``Sequential(BatchNorm1d(768, affine=False, eps=1e-6), head)``."""
    import torch

    spec = small_variant("vit-b-16-mae-lp", depth=1)
    torch.manual_seed(0)
    model = timm_module.create_model("vit_base_patch16_224", pretrained=False, depth=1)
    model.head = torch.nn.Sequential(torch.nn.BatchNorm1d(768, affine=False, eps=1e-6), model.head)
    assert_parity(*compare(timm_module, spec, model, shared_data))


def test_clip_image_tower_parity(timm_module, shared_data):
    """B/16 and B/32 differ only in the patch size, which the plain ViT tests cover."""
    check_timm(timm_module, small_variant("vit_base_patch16_clip_224.openai_ft_in1k", depth=1), shared_data, depth=1)


@functools.lru_cache(maxsize=None)
def _timm_backbone_count(timm, arch: str) -> int:
    import torch

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=0)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("letter,size", [("s", "small"), ("b", "base"), ("l", "large")])
def test_published_probe_parameter_counts(letter, size, timm_module):
    """The hub models' counts: timm's DINOv2 backbone (518-px grid) + the unused mask token (+ 4 registers) + the
    (5 x dim) -> 1000 head; DINO's: timm's backbone + the probe head."""
    dim = zoo.get(f"ViT-{letter}-14-dinoV2-LP").config_dict()["embed_dim"]
    hub = _timm_backbone_count(timm_module, f"vit_{size}_patch14_dinov2") + dim + 5 * dim * 1000 + 1000
    for name in (f"ViT-{letter}-14-dinoV2-LP", f"ViT-{letter}-14-dinoV2-FT"):
        assert zoo.get(name).num_params == hub
    for name in (f"ViT-{letter}-14-dinov2-reg-LP", f"ViT-{letter}-14-dinoV2-FT-Reg"):
        assert zoo.get(name).num_params == hub + 4 * dim
    if size != "large":
        n_probed = {"small": 4, "base": 2}[size]
        dino = zoo.get(f"ViT-{letter}-16-DINO-LP")
        assert dino.num_params == _timm_backbone_count(timm_module, f"vit_{size}_patch16_224") + \
            n_probed * dim * 1000 + 1000
