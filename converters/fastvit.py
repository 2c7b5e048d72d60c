"""timm ``fastvit`` state dicts -> :mod:`jaxquba.models.fastvit` parameters, fusing the training-time branches.

The published checkpoints (timm's ``fastvit_*.apple_*`` and the MobileCLIP image towers) hold FastViT's
training-time layout: each reparameterisable unit is a sum of branches that are linear up to the unit's activation,

* MobileOne block: ``bn(x)`` (identity branch, where the shape allows) + ``bn(conv_kxk(x))`` + ``bn(conv_1x1(x))``;
* large-kernel conv (patch embedding): ``bn(conv_7x7(x)) + bn(conv_3x3(x))``;
* RepMixer: ``x + gamma * (mixer(x) - norm(x))`` with ``mixer`` a MobileOne block and ``norm`` its identity branch;
* conditional positional encoding: ``x + conv_7x7(x)``.

Each sum is one convolution with bias: fold every batch norm into its conv, embed the smaller kernels and the
identity at the centre of the largest, add (RepVGG's rule; timm's ``reparameterize_model`` applies the same). The
arithmetic runs in float64 and is rounded once to float32, so the fused network differs from timm's unfused forward
only by float32 rounding (summation order): ``tests/test_fastvit.py`` checks logits within 1e-4 of their range
against timm's training-time model and against its reparameterised one. A state dict already in the inference
layout (``reparam_conv`` keys, timm's ``inference_mode=True`` or a reparameterised checkpoint) is read as it is.

Which branches a unit has is fixed by the architecture, not guessed from the keys, so a checkpoint missing one is
reported as missing instead of silently computing another function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo

BN_EPS = 1e-5  # nn.BatchNorm2d's default, which every batch norm of timm's FastViT keeps


def _f64(read: StateDictReader, key: str) -> np.ndarray:
    return read(key).astype(np.float64)


def _bn_fold(read: StateDictReader, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) of an eval-mode batch norm: ``bn(y) = y * multiplier + shift`` per channel."""
    multiplier = _f64(read, f"{prefix}.weight") / np.sqrt(_f64(read, f"{prefix}.running_var") + BN_EPS)
    return multiplier, _f64(read, f"{prefix}.bias") - _f64(read, f"{prefix}.running_mean") * multiplier


def _centred(kernel: np.ndarray, size: int) -> np.ndarray:
    """A (out, in/groups, k, k) kernel zero-padded to ``size`` x ``size`` around its centre."""
    pad = (size - kernel.shape[-1]) // 2
    return np.pad(kernel, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _identity_kernel(channels: int, in_per_group: int, size: int) -> np.ndarray:
    """The (channels, in_per_group, size, size) kernel of the identity map under ``channels / in_per_group`` groups."""
    kernel = np.zeros((channels, in_per_group, size, size))
    kernel[np.arange(channels), np.arange(channels) % in_per_group, size // 2, size // 2] = 1.0
    return kernel


def _conv_bn(read: StateDictReader, prefix: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """timm ``ConvNormAct`` without activation (conv without bias + batch norm), folded, at kernel ``size``."""
    multiplier, shift = _bn_fold(read, f"{prefix}.bn")
    kernel = _f64(read, f"{prefix}.conv.weight") * multiplier[:, None, None, None]
    return _centred(kernel, size), shift


def _identity_bn(read: StateDictReader, prefix: str, in_per_group: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    multiplier, shift = _bn_fold(read, prefix)
    kernel = _identity_kernel(len(multiplier), in_per_group or len(multiplier), size)  # 0: one group
    return kernel * multiplier[:, None, None, None], shift


def _conv(kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    """Fused (out, in/groups, kh, kw) kernel and bias -> the Flax conv of ``FusedConv`` (``reparam_conv``)."""
    return {"kernel": kernel.transpose(2, 3, 1, 0).astype(np.float32), "bias": bias.astype(np.float32)}


def _mobileone_sum(read: StateDictReader, prefix: str, size: int, in_per_group: int, identity: bool, conv: bool,
                   scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """The fused (kernel, bias) of a training-time MobileOne block with the given branches."""
    parts = []
    if identity:
        parts.append(_identity_bn(read, f"{prefix}.identity", in_per_group, size))
    if conv:
        parts.append(_conv_bn(read, f"{prefix}.conv_kxk.0", size))
    if scale:
        parts.append(_conv_bn(read, f"{prefix}.conv_scale", size))
    return sum(k for k, _ in parts), sum(b for _, b in parts)


def _se(read: StateDictReader, prefix: str) -> dict[str, Any]:
    return {"fc1": tl.conv2d(read, f"{prefix}.se.fc1"), "fc2": tl.conv2d(read, f"{prefix}.se.fc2")}


def mobileone(read: StateDictReader, prefix: str, size: int, in_per_group: int, identity: bool, scale: bool = True,
              se: bool = False) -> dict[str, Any]:
    """A MobileOne block (one kxk conv branch; a 1x1 branch when ``size`` > 1 and ``scale``; an identity branch when
    ``identity``, i.e. same width and stride 1) -> :class:`~jaxquba.models.fastvit.FusedConv` parameters."""
    if f"{prefix}.reparam_conv.weight" in read:
        params = {"reparam_conv": tl.conv2d(read, f"{prefix}.reparam_conv")}
    else:
        params = {"reparam_conv": _conv(*_mobileone_sum(read, prefix, size, in_per_group, identity, True,
                                                        scale and size > 1))}
    return {**params, "se": _se(read, prefix)} if se else params


def large_kernel(read: StateDictReader, prefix: str, size: int, small: int, se: bool) -> dict[str, Any]:
    """timm ``ReparamLargeKernelConv`` (``size`` x ``size`` and ``small`` x ``small`` conv + batch norm branches)."""
    if f"{prefix}.reparam_conv.weight" in read:
        params = {"reparam_conv": tl.conv2d(read, f"{prefix}.reparam_conv")}
    else:
        large_k, large_b = _conv_bn(read, f"{prefix}.large_conv", size)
        small_k, small_b = _conv_bn(read, f"{prefix}.small_conv", size)
        params = {"reparam_conv": _conv(large_k + small_k, large_b + small_b)}
    return {**params, "se": _se(read, prefix)} if se else params


def repmixer(read: StateDictReader, prefix: str, size: int) -> dict[str, Any]:
    """timm ``RepMixer``: ``x + gamma * (mixer(x) - norm(x))`` as one depthwise conv."""
    if f"{prefix}.reparam_conv.weight" in read:
        return {"reparam_conv": tl.conv2d(read, f"{prefix}.reparam_conv")}
    mixer_k, mixer_b = _mobileone_sum(read, f"{prefix}.mixer", size, 1, identity=True, conv=True, scale=size > 1)
    norm_k, norm_b = _mobileone_sum(read, f"{prefix}.norm", size, 1, identity=True, conv=False, scale=False)
    gamma = _f64(read, f"{prefix}.layer_scale.gamma").reshape(-1)
    kernel = _identity_kernel(len(gamma), 1, size) + gamma[:, None, None, None] * (mixer_k - norm_k)
    return {"reparam_conv": _conv(kernel, gamma * (mixer_b - norm_b))}


def cpe(read: StateDictReader, prefix: str) -> dict[str, Any]:
    """timm ``RepConditionalPosEnc``: ``x + conv(x)`` (depthwise, with bias) as one conv."""
    if f"{prefix}.reparam_conv.weight" in read:
        return {"reparam_conv": tl.conv2d(read, f"{prefix}.reparam_conv")}
    kernel = _f64(read, f"{prefix}.pos_enc.weight")
    return {"reparam_conv": _conv(_identity_kernel(kernel.shape[0], 1, kernel.shape[-1]) + kernel,
                                  _f64(read, f"{prefix}.pos_enc.bias"))}


def _conv_mlp(read: StateDictReader, prefix: str) -> dict[str, Any]:
    return {"conv": tl.conv2d(read, f"{prefix}.conv.conv", bias=False), "bn": tl.batch_norm(read, f"{prefix}.conv.bn"),
            "fc1": tl.conv2d(read, f"{prefix}.fc1"), "fc2": tl.conv2d(read, f"{prefix}.fc2")}


def _gamma(read: StateDictReader, key: str) -> np.ndarray:
    return read(key).reshape(-1)  # LayerScale2d keeps (C, 1, 1)


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    return convert_config(read, spec.config_dict())


def convert_config(read: StateDictReader, cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The parameters of a :class:`~jaxquba.models.fastvit.FastVit` with config ``cfg``; ``prefix``: where the
    network sits in the state dict (``visual.trunk.`` in an open_clip MobileCLIP)."""
    p = prefix
    kernel = cfg.get("repmixer_kernel_size", 3)
    params: dict[str, Any] = {
        "stem_0": mobileone(read, f"{p}stem.0", 3, 0, identity=False),
        "stem_1": mobileone(read, f"{p}stem.1", 3, 1, identity=False),
        "stem_2": mobileone(read, f"{p}stem.2", 1, 0, identity=True),
        "final_conv": mobileone(read, f"{p}final_conv", 3, 1, identity=False, se=True),
        "head_fc": tl.linear(read, f"{p}head.fc"),
    }
    for i, depth in enumerate(cfg["layers"]):
        s = f"{p}stages.{i}"
        if i > 0:
            params[f"stages_{i}_downsample_0"] = large_kernel(read, f"{s}.downsample.proj.0",
                                                              cfg.get("down_patch_size", 7), 3,
                                                              se=cfg.get("se_downsamples", (False,) * 4)[i])
            params[f"stages_{i}_downsample_1"] = mobileone(read, f"{s}.downsample.proj.1", 1, 0, identity=True)
        if cfg["pos_embs"][i]:
            params[f"stages_{i}_pos_emb"] = cpe(read, f"{s}.pos_emb")
        for j in range(depth):
            b = f"{s}.blocks.{j}"
            if cfg["token_mixers"][i] == "repmixer":
                block = {"token_mixer": repmixer(read, f"{b}.token_mixer", kernel),
                         "layer_scale": _gamma(read, f"{b}.layer_scale.gamma")}
            else:
                block = {"norm": tl.batch_norm(read, f"{b}.norm"),
                         "token_mixer": tl.self_attention(read, f"{b}.token_mixer", qkv_bias=False),
                         "layer_scale_1": _gamma(read, f"{b}.layer_scale_1.gamma"),
                         "layer_scale_2": _gamma(read, f"{b}.layer_scale_2.gamma")}
            params[f"stages_{i}_blocks_{j}"] = {**block, "mlp": _conv_mlp(read, f"{b}.mlp")}
    return params
