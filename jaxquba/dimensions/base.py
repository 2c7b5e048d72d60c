"""The dimension framework: what each quality dimension needs from the engine, and how it reduces the outputs.

A :class:`Dimension` declares

* ``passes(ctx)``: the :class:`Pass` es it needs -- a dataset spec and, per view, the output heads wanted
  (:data:`jaxquba.engine.HEADS`); and
* ``reduce(outputs, ctx)``: named :class:`Value` s computed from the gathered per-example outputs.

A dimension is evaluated once per *reference dataset* (``--datasets``; ``ctx.dataset``): dataset-generic dimensions
(accuracy, calibration, class balance) measure that dataset, dimensions with their own data (shape bias on
cue-conflict) use it as the clean reference of their ratios. :func:`merge_passes` unions the passes of every
dimension by dataset and view, so one clean pass of a dataset feeds accuracy, calibration and class balance, and
each (dataset, view) is computed once with the union of the heads asked for.

Dimensions register by name (:func:`register`) as their modules are imported: the framework's own (accuracy,
views) in :mod:`jaxquba.dimensions`, each study's in its package; :mod:`jaxquba.studies` imports them all and
resolves ``--dimensions=accuracy,calibration``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from jaxquba.engine import Outputs, ViewRequest
from jaxquba.protocols import Protocol
from jaxquba.views.base import View
from jaxquba.zoo import DataConfig, ModelSpec


S = TypeVar("S")


@dataclasses.dataclass(frozen=True)
class Context:
    """What a dimension may depend on: the reference dataset, the protocol, the seed, the model, the views the run
    was asked for by name (``--views``), the tfds data dir and each study's settings.

    ``studies`` maps a study's name (its suite) to its settings object, which the app builds from that study's
    command-line flags; a dimension reads its study's with :meth:`study`, never global flags, so dimensions run the
    same with or without absl."""

    dataset: str  # canonical dataset spec (the source's name)
    protocol: Protocol
    seed: int
    model: ModelSpec
    views: str = ""  # the --views list of view specs (jaxquba.views.registry.parse_list)
    data_dir: str | None = None
    studies: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def study(self, name: str, default: Callable[[], S]) -> S:
        """The settings of study ``name`` given to this run, else ``default()`` (the study's defaults)."""
        return self.studies[name] if name in self.studies else default()


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A model other than the one under evaluation whose outputs a dimension needs (the error study's CLIP).

    ``name`` and ``weights`` as ``--model`` / ``--weights``; ``outputs``: what its pass computes, ``logits`` (the
    classifier) or ``image_embedding`` (a CLIP model's L2-normalised image features, :mod:`jaxquba.models`). Its
    passes are planned, stored and resumed like the evaluated model's, under its own model name and weights digest,
    so every evaluated model of a run (and later runs on the same store) share them."""

    name: str
    weights: str = "default"
    outputs: str = "logits"

    def outputs_key(self, dataset: str) -> str:
        """The key under which ``reduce`` finds this model's outputs on ``dataset``."""
        return f"{dataset}@{self.name}[weights={self.weights},outputs={self.outputs}]"


@dataclasses.dataclass(frozen=True)
class Pass:
    """Views of one dataset to run, with the heads wanted from each.

    ``preprocess``: DataConfig fields (name, value) this pass's host preprocessing takes instead of the model's,
    e.g. release-style ImageNet-C views start from the release's Resize 256 / CenterCrop 224 whatever the model,
    and the generalization study resizes every model's input the same way; () keeps the model's. Passes of one
    dataset with different preprocessing are different passes; the reduce sees the views of every pass on a dataset
    under that dataset's spec, whatever their preprocessing.

    ``model``: another model to run instead of the evaluated one (its outputs reach the reduce under
    ``model.outputs_key(dataset)``, preprocessed with that model's own data config). ``example_names``: the
    reduce needs each example's file name, ``Outputs.extras["example_name"]`` (read from the dataset by the runner,
    so the reduce never opens a source)."""

    dataset: str
    requests: tuple[ViewRequest, ...]
    preprocess: tuple[tuple[str, Any], ...] = ()
    model: ModelRef | None = None
    example_names: bool = False

    @classmethod
    def of(cls, dataset: str, views: Sequence[View], heads: Sequence[str],
           preprocess: Mapping[str, Any] | None = None, *, model: ModelRef | None = None,
           example_names: bool = False) -> "Pass":
        """The same heads from every view."""
        requests = tuple(ViewRequest(v, tuple(heads)) for v in views)
        return cls(dataset, requests, tuple(sorted((preprocess or {}).items())), model, example_names)

    def data_config(self, model_data: DataConfig) -> DataConfig:
        """The host preprocessing of this pass for a model whose own is ``model_data`` (for a pass of another
        model, that model's)."""
        return dataclasses.replace(model_data, **dict(self.preprocess))

    @property
    def outputs_key(self) -> str:
        """Where ``reduce`` finds this pass's outputs: its dataset, or its other model's key on it."""
        return self.dataset if self.model is None else self.model.outputs_key(self.dataset)


@dataclasses.dataclass(frozen=True)
class Value:
    """One measured number. ``spec`` names it completely in the grammar of :mod:`jaxquba.value_spec`,
    ``metric@dataset[key=value,...]`` (robustness_metrics' convention plus the conditions);
    ``column`` is the published QUBA table column it measures, if any (e.g. ``Acc``)."""

    name: str
    value: float
    spec: str
    column: str | None = None


@dataclasses.dataclass(frozen=True)
class Dimension:
    """``suite`` groups dimensions of one study: ``all`` means the ``quba`` suite, and a suite's name selects all of
    its dimensions (e.g. ``--dimensions=p2`` for the generalization study)."""

    name: str
    description: str
    passes: Callable[[Context], tuple[Pass, ...]]
    reduce: Callable[[Mapping[str, Outputs], Context], list[Value]]
    suite: str = "quba"


_REGISTRY: dict[str, Dimension] = {}


def register(dimension: Dimension) -> Dimension:
    if _REGISTRY.get(dimension.name, dimension) is not dimension:
        raise ValueError(f"dimension {dimension.name!r} registered twice")
    _REGISTRY[dimension.name] = dimension
    return dimension


def registered() -> dict[str, Dimension]:
    """name -> every dimension registered so far (:mod:`jaxquba.studies` imports them all)."""
    return dict(_REGISTRY)


def merge_passes(passes: Iterable[Pass]) -> dict[str, tuple[ViewRequest, ...]]:
    """dataset -> one request per distinct view (by name, first-seen order), with the union of its heads."""
    merged: dict[str, dict[str, tuple[View, list[str]]]] = {}
    for p in passes:
        views = merged.setdefault(p.dataset, {})
        for request in p.requests:
            view, heads = views.setdefault(request.view.name, (request.view, []))
            heads.extend(h for h in request.heads if h not in heads)
    return {dataset: tuple(ViewRequest(view, tuple(heads)) for view, heads in views.values())
            for dataset, views in merged.items()}
