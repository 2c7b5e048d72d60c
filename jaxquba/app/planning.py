"""Planning of one run's passes: which datasets are open (or why not), which dimensions can run on which data
for a model, and the passes they share, grouped by dataset and host preprocessing (one decode of an image serves
every view of its group). Bookkeeping only: nothing here loads a model or computes an output."""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import logging


@dataclasses.dataclass
class DatasetState:
    """A dataset asked for in this run: its canonical name, and its source or why it is unavailable."""

    spec: str
    name: str
    source: Any = None
    missing: str | None = None


def open_dataset(spec: str, data_dir: str | None) -> DatasetState:
    """Opens ``spec``; a dataset that is known but not prepared becomes a DatasetState with the reason.
    An unknown spec raises UserError (a typo should stop the run, not be skipped)."""
    from jaxquba.data import registry
    from jaxquba.errors import UserError
    # tfds warns once per folder it probes for a missing dataset (hundreds of lines for ImageNet-C); the reason a
    # dataset is missing is reported by the app, so below INFO verbosity those warnings are muted here.
    previous = logging.get_verbosity()
    if previous <= logging.WARNING:
        logging.set_verbosity(logging.ERROR)
    try:
        name = registry.canonical_name(spec, data_dir)
        try:
            source = registry.open_source(spec, data_dir)
        except UserError as e:
            return DatasetState(spec, name, missing=str(e))
        return DatasetState(spec, source.name, source)
    finally:
        logging.set_verbosity(previous)


def dataset_state(datasets: dict[str, DatasetState], spec: str, data_dir: str | None) -> DatasetState:
    """The state of ``spec``, opened once whether it is asked for by its spec or by its canonical name."""
    if spec not in datasets:
        state = open_dataset(spec, data_dir)
        if state.name not in datasets and state.missing:
            logging.info("dataset %s is not available: %s", spec, state.missing)
        datasets[spec] = datasets.setdefault(state.name, state)
    return datasets[spec]


@dataclasses.dataclass
class ModelPlan:
    """What one model's evaluation computes. ``dimensions``: (dimension, context, passes) that can run;
    ``skipped``: the others, with why; ``groups``: (canonical dataset, host transform) -> the merged view requests
    computed from one decode of each image of that dataset; ``other_groups``: the same for passes of other models
    (a ``ModelRef`` first in the key, the transform from that model's data config); ``named``: the canonical
    datasets whose outputs carry each example's file name (a pass asked for ``example_names``)."""

    dimensions: list[tuple[Any, Any, tuple]]
    skipped: list[dict[str, str]]
    groups: dict[tuple[str, Any], tuple]
    model_data: Any
    other_groups: dict[tuple[Any, str, Any], tuple] = dataclasses.field(default_factory=dict)
    named: set[str] = dataclasses.field(default_factory=set)

    def group_of(self, p, datasets: dict[str, DatasetState]) -> tuple:
        """(canonical dataset name, host transform) of the pass ``p``; for a pass of another model, (its
        ``ModelRef``, canonical dataset name, host transform with that model's preprocessing)."""
        from jaxquba import zoo
        from jaxquba.data.preprocess import make_eval_transform
        name = datasets[p.dataset].name
        if p.model is None:
            return name, make_eval_transform(p.data_config(self.model_data))
        return p.model, name, make_eval_transform(p.data_config(zoo.get(p.model.name).data))

    def outputs_for(self, passes, outputs: dict, datasets: dict[str, DatasetState]) -> dict:
        """What a dimension's ``reduce`` sees: the outputs of its ``passes``' groups (their own preprocessing),
        under each pass's ``outputs_key`` and the same key with the dataset's canonical name; passes on one dataset
        with different preprocessing (e.g. clean and release-style ImageNet-C views) appear as one Outputs with the
        views of both. ``outputs``: group -> Outputs."""
        from jaxquba.engine import Outputs
        members: dict[str, list] = {}
        canonical: dict[str, str] = {}
        for p in passes:
            group = self.group_of(p, datasets)
            if group not in members.setdefault(p.outputs_key, []):
                members[p.outputs_key].append(group)
            name = datasets[p.dataset].name
            canonical[p.outputs_key] = name if p.model is None else p.model.outputs_key(name)
        seen = {}
        for key, groups in members.items():
            first = outputs[groups[0]]
            views = {name: heads for group in groups for name, heads in outputs[group].views.items()}
            seen[key] = Outputs(views, first.labels, first.example_ids, first.extras)
        return {alias: out for key, out in seen.items() for alias in (key, canonical[key])}


def plan_model(model_spec, settings, datasets: dict[str, DatasetState], dims, protocol) -> ModelPlan:
    """Which dimensions run on which data for ``model_spec``, and the passes they share."""
    from jaxquba import zoo
    from jaxquba.dimensions.base import Context, merge_passes
    from jaxquba.errors import UserError
    from jaxquba.run_checks import with_finite_head

    contexts = [Context(datasets[s].name, protocol, settings.seed, model_spec, getattr(settings, "views", ""),
                        settings.data_dir, getattr(settings, "studies", {})) for s in settings.datasets]
    plan = ModelPlan([], [], {}, model_spec.data)
    for dim in dims:
        for ctx in contexts:
            try:
                passes = dim.passes(ctx)
                for p in passes:
                    if p.model is not None:
                        zoo.resolve(p.model.name)  # an unknown second model is the run's mistake: said before work
            except UserError as e:
                plan.skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": str(e)})
                continue
            missing = [p.dataset for p in passes if dataset_state(datasets, p.dataset, settings.data_dir).missing]
            if missing:
                plan.skipped.append({"dimension": dim.name, "dataset": ctx.dataset,
                                     "reason": f"needs {_listing(missing)} (not available)"})
            else:
                plan.dimensions.append((dim, ctx, passes))
    grouped: dict[tuple, list] = {}
    for dim, _, passes in plan.dimensions:
        for p in passes:
            key = plan.group_of(p, datasets)
            grouped.setdefault(key, []).append(dataclasses.replace(p, dataset=datasets[p.dataset].name))
            if p.example_names:
                plan.named.add(datasets[p.dataset].name)
    for key, passes in grouped.items():
        requests = with_finite_head(merge_passes(passes)[key[-2]])
        if len(key) == 2:
            plan.groups[key] = requests
        else:
            plan.other_groups[key] = requests
    return plan


def _listing(specs) -> str:
    """Dataset specs for a message, each family of many sets (``imagenet2012_corrupted/*``) as one entry."""
    families: dict[str, list[str]] = {}
    for spec in sorted(set(specs)):
        families.setdefault(spec.split("/")[0] if "/" in spec else spec, []).append(spec)
    return ", ".join(members[0] if len(members) == 1 else f"{family}/* ({len(members)} sets)"
                     for family, members in families.items())
