"""timm ``coat`` (CoaT-Lite) state dicts -> :mod:`jaxquba.models.coat` parameters.

timm's blocks hold references to their stage's shared ``cpe``/``crpe`` modules, so their weights appear under both
``cpe1.*`` and ``serial_blocks1.0.cpe.*`` in a state dict; the copies under the blocks are the same tensors and are
marked used.
"""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.coat import CRPE_WINDOWS


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    cfg = spec.config_dict()
    for key in read.keys():
        if ".cpe." in key or ".crpe." in key:
            read(key)  # the shared modules' aliases under each block
    params: dict[str, Any] = {"norm4": tl.layer_norm(read, "norm4"), "head": tl.linear(read, "head")}
    for stage, depth in enumerate(cfg["serial_depths"], start=1):
        params[f"patch_embed{stage}_proj"] = tl.conv2d(read, f"patch_embed{stage}.proj")
        params[f"patch_embed{stage}_norm"] = tl.layer_norm(read, f"patch_embed{stage}.norm")
        params[f"cls_token{stage}"] = read(f"cls_token{stage}")
        params[f"cpe{stage}"] = {"proj": tl.conv2d(read, f"cpe{stage}.proj")}
        params[f"crpe{stage}"] = {f"conv_list_{i}": tl.conv2d(read, f"crpe{stage}.conv_list.{i}")
                                  for i in range(len(CRPE_WINDOWS))}
        for i in range(depth):
            p = f"serial_blocks{stage}.{i}"
            params[f"serial_blocks{stage}_{i}"] = {
                "norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
                "factoratt_crpe": {"qkv": tl.linear(read, f"{p}.factoratt_crpe.qkv"),
                                   "proj": tl.linear(read, f"{p}.factoratt_crpe.proj")},
                "mlp": tl.mlp(read, f"{p}.mlp")}
    return params
