"""The pretrained config of a timm tag (``arch.tag``): data config, class count and weight source.

:func:`jaxquba.zoo.derive_timm_tag` uses it to register any timm tag of a registered architecture without
hand-written code. Offline it reads timm's installed registry (the ``default_cfgs`` timm builds when imported);
where timm is absent or does not know the tag, it reads the hub's ``timm/<name>/config.json`` (cached by
huggingface_hub after the first download).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jaxquba.errors import UserError

CFG_KEYS = ("input_size", "crop_pct", "interpolation", "mean", "std", "num_classes", "crop_mode", "hf_hub_id", "url")


def pretrained_cfg(name: str) -> dict[str, Any] | None:
    """The pretrained config of timm tag ``name`` (the keys of :data:`CFG_KEYS` that it has), or None if unknown."""
    cfg = installed_timm_cfg(name)
    return cfg if cfg is not None else hub_cfg(name)


def installed_timm_cfg(name: str) -> dict[str, Any] | None:
    """The config from timm's installed registry; None where timm is not installed or has no such tag."""
    try:
        from converters.torch_env import import_timm
        timm = import_timm()
    except UserError:
        return None
    try:
        cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    except RuntimeError:  # timm knows the architecture but not the tag
        return None
    if cfg is None:
        return None
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k in CFG_KEYS and v is not None}


def hub_cfg(name: str) -> dict[str, Any] | None:
    """The config in the hub's ``timm/<name>/config.json``; None when offline and not cached, or no such repo."""
    try:
        import huggingface_hub
        path = huggingface_hub.hf_hub_download(f"timm/{name}", "config.json")
    except Exception:  # ImportError, offline, unknown repository: the caller reports the name as unknown
        return None
    with open(path) as f:
        config = json.load(f)
    cfg = dict(config.get("pretrained_cfg", {}))
    cfg.setdefault("num_classes", config.get("num_classes", 1000))
    cfg.setdefault("hf_hub_id", f"timm/{name}")
    return {k: v for k, v in cfg.items() if k in CFG_KEYS and v is not None}
