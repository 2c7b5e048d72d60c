"""timm ``hiera`` state dicts (and torch.hub ``facebookresearch/hiera``'s) -> :mod:`jaxquba.models.hiera` parameters."""

from __future__ import annotations

from typing import Any

from converters import torch_layout as tl
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.hiera import block_plan


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    return _convert(read, spec, norm="head.norm", fc="head.fc")


def convert_hub(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """torch.hub ``facebookresearch/hiera`` state dicts (the peer's linear probes): timm's names but for the final
    ``norm`` and the head's ``projection`` (timm's ``checkpoint_filter_fn`` renames them ``head.norm``, ``head.fc``)."""
    return _convert(read, spec, norm="norm", fc="head.projection")


def _convert(read: StateDictReader, spec: zoo.ModelSpec, norm: str, fc: str) -> dict[str, Any]:
    cfg = spec.config_dict()
    params: dict[str, Any] = {
        "patch_embed": tl.conv2d(read, "patch_embed.proj"), "pos_embed": read("pos_embed"),
        "head_norm": tl.layer_norm(read, norm), "head_fc": tl.linear(read, fc),
    }
    dim = cfg["embed_dim"]
    for i, (dim_out, *_rest) in enumerate(block_plan(cfg["embed_dim"], cfg["num_heads"], cfg["stages"])):
        p = f"blocks.{i}"
        block = {"norm1": tl.layer_norm(read, f"{p}.norm1"), "norm2": tl.layer_norm(read, f"{p}.norm2"),
                 "attn": {"qkv": tl.linear(read, f"{p}.attn.qkv"), "proj": tl.linear(read, f"{p}.attn.proj")},
                 "mlp": tl.mlp(read, f"{p}.mlp")}
        if dim_out != dim:
            block["proj"] = tl.linear(read, f"{p}.proj")
        params[f"blocks_{i}"], dim = block, dim_out
    return params
