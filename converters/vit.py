"""timm ``vision_transformer`` / ``deit`` state dicts -> :mod:`jaxquba.models.vit` parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(read: StateDictReader, spec: zoo.ModelSpec, head: str = "head") -> dict[str, Any]:
    cfg = spec.config_dict()
    params = convert_features(read, cfg)
    if cfg.get("num_classes", 1000):
        params["head"] = tl.linear(read, head)
    if cfg.get("distilled", False):
        params["head_dist"] = tl.linear(read, "head_dist")
    return params


def convert_features(read: StateDictReader, cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Everything but the classifier head(s): the backbone, its tokens, position embedding, final norm and (for
    ``global_pool='map'``) the attention pool, under ``prefix`` (open_clip's ``visual.trunk.`` for SigLIP)."""
    params = _backbone(read, cfg, prefix)
    for token, present in (("cls_token", cfg.get("class_token", True)), ("dist_token", cfg.get("distilled", False)),
                           ("reg_token", cfg.get("reg_tokens", 0))):
        if present:
            params[token] = read(f"{prefix}{token}")
    params["pos_embed"] = read(f"{prefix}pos_embed")
    final_norm = "fc_norm" if cfg.get("fc_norm", False) else "norm"
    params[final_norm] = tl.layer_norm(read, f"{prefix}{final_norm}")
    if cfg.get("global_pool") == "map":
        p = f"{prefix}attn_pool"
        params["attn_pool"] = {"latent": read(f"{p}.latent"), "q": tl.linear(read, f"{p}.q"),
                               "kv": tl.linear(read, f"{p}.kv"), "proj": tl.linear(read, f"{p}.proj"),
                               "norm": tl.layer_norm(read, f"{p}.norm"), "mlp": tl.mlp(read, f"{p}.mlp")}
    return params


def convert_mae_linear_probe(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """MAE's linear probe (``head = Sequential(BatchNorm1d(affine=False, eps=1e-6), Linear)``): the batch norm's
    running statistics with unit scale and zero shift."""
    params = convert(read, spec, head="head.1")
    mean, var = read("head.0.running_mean"), read("head.0.running_var")
    params["head_bn"] = {"mean": mean, "var": var, "scale": np.ones_like(mean), "bias": np.zeros_like(mean)}
    return params


def _backbone(read, cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Patch embedding, pre-norm and blocks under timm's names (which DINO, DINOv2 and MAE share)."""
    if cfg.get("conv_stem", 0):  # RobustBench's ConvBlock: stem.{0,3,6,9} convs, stem.{1,4,7,10} norms, stem.12
        patch_embed = tl.conv_stem(read, f"{prefix}patch_embed.proj.stem", 4, proj=True)
    elif cfg.get("mci_stem", False):  # timm's HybridEmbed around a ConvStem (vit_base_mci_224), no projection
        p = f"{prefix}patch_embed.backbone"
        patch_embed = {"conv_0": tl.conv2d(read, f"{p}.0.conv", bias=False), "bn_0": tl.batch_norm(read, f"{p}.0.bn"),
                       "conv_1": tl.conv2d(read, f"{p}.1.conv", bias=False), "bn_1": tl.batch_norm(read, f"{p}.1.bn"),
                       "conv_2": tl.conv2d(read, f"{p}.2.conv")}
    else:
        patch_embed = tl.conv2d(read, f"{prefix}patch_embed.proj", bias=not cfg.get("pre_norm", False))
    params: dict[str, Any] = {"patch_embed": patch_embed}
    if cfg.get("pre_norm", False):
        params["norm_pre"] = tl.layer_norm(read, f"{prefix}norm_pre")
    for i in range(cfg["depth"]):
        p = f"{prefix}blocks.{i}"
        block = {"norm1": tl.layer_norm(read, f"{p}.norm1"),
                 "attn": tl.self_attention(read, f"{p}.attn", cfg.get("qkv_bias", True)),
                 "norm2": tl.layer_norm(read, f"{p}.norm2"), "mlp": tl.mlp(read, f"{p}.mlp")}
        if cfg.get("layer_scale", False):
            block["ls1"] = {"gamma": read(f"{p}.ls1.gamma")}
            block["ls2"] = {"gamma": read(f"{p}.ls2.gamma")}
        params[f"blocks_{i}"] = block
    return params


def convert_linear_probe(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """A DINOv2 linear classifier: the state dict of torch.hub ``facebookresearch/dinov2``'s ``dinov2_*_lc`` models
    (``backbone.*`` = DINOv2's ``DinoVisionTransformer``, ``linear_head.*``). The DINO (v1) linear probes use the
    same layout: their two release files (``dino_*_pretrain.pth`` under ``backbone.``, the ``module.linear.*`` of
    ``dino_*_linearweights.pth`` as ``linear_head.*``).

    The backbone's class token is added to the first position embedding (DINOv2's ``register_tokens`` come after
    it); for register models (``no_embed_class``) that sum becomes the class token, as timm converts them.
    ``mask_token`` (masked-image training only) is read and dropped.
    """
    cfg = spec.config_dict()
    params = _backbone(read, cfg, "backbone.")
    cls_token, pos_embed = read("backbone.cls_token"), read("backbone.pos_embed")
    if cfg.get("reg_tokens", 0):
        params["reg_token"] = read("backbone.register_tokens")
    if cfg.get("no_embed_class", False):
        cls_token, pos_embed = cls_token + pos_embed[:, :1], pos_embed[:, 1:]
    params.update(cls_token=cls_token, pos_embed=pos_embed, norm=tl.layer_norm(read, "backbone.norm"),
                  head=tl.linear(read, "linear_head"))
    if "backbone.mask_token" in read:
        read("backbone.mask_token")
    return params


def convert_dino_linear_probe(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """DINO (v1) linear probes in :func:`convert_linear_probe`'s layout. DINO's ``eval_linear`` (and the peer's
    ``DINOModel``) feeds ViT-B/16's head (class token, mean patch token) interleaved channel by channel; the head's
    input columns are permuted here into the module's plain concatenation."""
    params = convert_linear_probe(read, spec)
    if spec.config_dict().get("head_avgpool", False):
        kernel = params["head"]["kernel"]  # (2 * dim, classes), rows c0, m0, c1, m1, ...
        params["head"]["kernel"] = np.concatenate([kernel[0::2], kernel[1::2]], axis=0)
    return params


def convert_torchvision(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torchvision ``VisionTransformer`` state dicts (``vit_b_16`` ...) -> the same parameters.

    torchvision's ViT is timm's class-token ViT under other names: ``conv_proj``, ``class_token``,
    ``encoder.pos_embedding``, per layer ``ln_1``/``ln_2``, ``nn.MultiheadAttention`` (``in_proj`` holds q, k, v in
    timm's fused order) and the MLP as ``mlp.0``/``mlp.3``; ``encoder.ln`` and ``heads.head``.
    """
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "conv_proj"), "cls_token": read("class_token"),
        "pos_embed": read("encoder.pos_embedding"), "norm": tl.layer_norm(read, "encoder.ln"),
        "head": tl.linear(read, "heads.head"),
    }
    for i in range(cfg["depth"]):
        p = f"encoder.layers.encoder_layer_{i}"
        params[f"blocks_{i}"] = {
            "norm1": tl.layer_norm(read, f"{p}.ln_1"), "norm2": tl.layer_norm(read, f"{p}.ln_2"),
            "attn": {"qkv": {"kernel": read(f"{p}.self_attention.in_proj_weight").T,
                             "bias": read(f"{p}.self_attention.in_proj_bias")},
                     "proj": tl.linear(read, f"{p}.self_attention.out_proj")},
            "mlp": {"fc1": tl.linear(read, f"{p}.mlp.0"), "fc2": tl.linear(read, f"{p}.mlp.3")}}
    return params
