"""Running and resuming one run: per model, load it, compute every planned group of passes in stored chunks (a
killed run resumes where it stopped; what is stored is not recomputed), reduce the outputs per dimension and store
the result tables; then write ``summary.json``."""

from __future__ import annotations

import functools
import sys
import threading
import time
from typing import Any

import numpy as np
from absl import logging
from etils import epath

from jaxquba.app.planning import DatasetState, dataset_state, plan_model


def output_fields(classifier, dataset: str, preprocess: str, view: str, protocol, seed: int, data: str = ""
                  ) -> dict[str, Any]:
    """The spec of one (model, dataset, host preprocessing, view) output entry in the store. ``data``: the
    dataset's content fingerprint, so a changed dataset is a new entry (empty for run-level fields). A classifier
    whose outputs are not its logits (a CLIP image embedding) says so in an ``outputs`` field, absent otherwise so
    that the entries of classifiers keep their keys."""
    fields = {"model": classifier.spec.name, "weights": classifier.weights_digest, "precision": classifier.precision,
              "dataset": dataset, "data": data, "preprocess": preprocess, "view": view, "protocol": protocol.spec,
              "seed": seed}
    outputs = getattr(classifier, "outputs", "logits")
    return fields if outputs == "logits" else {**fields, "outputs": outputs}


class OtherModels:
    """The run's other models (``Pass.model``, e.g. the error study's CLIP), each loaded once with its engine and
    shared by every evaluated model."""

    def __init__(self, settings, mesh, protocol):
        self.settings, self.mesh, self.protocol = settings, mesh, protocol
        self.loaded: dict[Any, tuple[Any, Any]] = {}

    def get(self, ref) -> tuple[Any, Any]:
        """(classifier, engine) of ``ref`` (a ``ModelRef``)."""
        if ref not in self.loaded:
            from jaxquba import engine as E
            from jaxquba.loader import load_classifier
            classifier = load_classifier(ref.name, weights=ref.weights, precision=self.settings.precision,
                                         outputs=ref.outputs)
            self.loaded[ref] = classifier, E.Engine(classifier, mesh=self.mesh, batch_size=self.settings.batch_size,
                                                    seed=self.settings.seed, protocol=self.protocol,
                                                    executable_cache=executables_folder(self.settings))
        return self.loaded[ref]


def evaluate_model(model_name: str, settings, store, mesh, datasets: dict[str, DatasetState], dims, protocol,
                   other_models: OtherModels | None = None) -> dict[str, Any]:
    """Runs every pass the dimensions need on one model (and on the other models some passes name) and reduces
    them; returns the model's summary entry."""
    import jax

    from jaxquba import engine as E
    from jaxquba import run_checks
    from jaxquba.data.pipeline import host_batches
    from jaxquba.errors import UserError
    from jaxquba.loader import load_classifier

    classifier = load_classifier(model_name, weights=settings.weights, precision=settings.precision)
    memory_gib = getattr(settings, "device_memory_gib", 0)  # settings built outside the app may leave it out
    engine = E.Engine(classifier, mesh=mesh, batch_size=settings.batch_size, seed=settings.seed, protocol=protocol,
                      memory_limit_bytes=int(memory_gib * (1 << 30)) or None,
                      executable_cache=executables_folder(settings))
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

    outputs, examples, nonfinite, compiles = {}, {}, {}, []
    other_models = other_models or OtherModels(settings, mesh, protocol)
    groups = [(key, classifier, engine, requests) for key, requests in plan.groups.items()]
    groups += [(key, *other_models.get(key[0]), requests) for key, requests in plan.other_groups.items()]
    for key, model, model_engine, requests in groups:
        name, transform = key[-2:]
        where = name if model is classifier else key[0].outputs_key(name)  # as the reduce sees it
        state = datasets[name]
        n = len(state.source) if not settings.max_examples else min(len(state.source), settings.max_examples)
        entries = {r.view.name: store.outputs(output_fields(model, name, transform.spec, r.view.name, protocol,
                                                            settings.seed, state.source.fingerprint))
                   for r in requests}
        plans = E.plan_chunks(n, requests, entries, chunk_examples=settings.chunk_examples,
                              overwrite=settings.overwrite)
        reader = functools.partial(host_batches, state.source, transform, num_threads=settings.num_threads or None)
        todo = sum(p.stop - p.start for p in plans if p.todo)
        compiled_before = len(model_engine.compile_seconds)
        with _progress(f"{model.spec.name} {name} {transform.spec} ({len(requests)} views)", todo) as bar:
            E.evaluate(model_engine, reader, plans, entries, overwrite=settings.overwrite, progress=bar.update,
                       status=bar.status, image_size=transform.size)
        compiles += [{"dataset": name, "preprocess": transform.spec, **record,
                      **({} if model is classifier else {"model": model.spec.name})}
                     for record in model_engine.compile_seconds[compiled_before:]]
        if jax.process_index() == 0:
            out = E.load_outputs(entries, requests, n, chunk_examples=settings.chunk_examples)
            if name in plan.named:
                from jaxquba.data.registry import example_names
                out.extras["example_name"] = np.array(example_names(name, n, settings.data_dir))
            outputs[key] = out
            for view, count in run_checks.nonfinite_counts(out).items():
                nonfinite[(where, view)] = max(count, nonfinite.get((where, view), 0))
                if count:
                    warnings.append(_warn(f"{model.spec.name}: {count} of {n} examples of {name} "
                                          f"({transform.spec}, view {view}) have non-finite outputs (NaN/inf)"))
        examples[where] = n

    results = []
    if jax.process_index() == 0:
        for dim, ctx, passes in plan.dimensions:
            read = [(_outputs_key(p, datasets), r.view.name) for p in passes for r in p.requests]
            reason = run_checks.nonfinite_reason(read, nonfinite, examples)
            if reason:
                skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": reason})
                continue
            try:
                values = dim.reduce(plan.outputs_for(passes, outputs, datasets), ctx)
            except UserError as e:
                skipped.append({"dimension": dim.name, "dataset": ctx.dataset, "reason": str(e)})
                continue
            groups = sorted({plan.group_of(p, datasets) for p in passes if p.model is None},
                            key=lambda g: (g[0], g[1].spec))
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
            "max_examples": settings.max_examples, "results": results, "skipped": skipped, "warnings": warnings,
            "compile_seconds": compiles}


def executables_folder(settings):
    """The executable cache's folder under ``--compilation_cache`` (None where it is off, and for settings built
    outside the app, which may leave the field out)."""
    from jaxquba import compilation_cache
    return compilation_cache.executables_folder(getattr(settings, "compilation_cache", None))


def _outputs_key(p, datasets: dict[str, DatasetState]) -> str:
    """The pass's outputs key with its dataset's canonical name."""
    name = datasets[p.dataset].name
    return name if p.model is None else p.model.outputs_key(name)


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


def run(settings) -> dict[str, Any]:
    """Evaluates every model of ``settings`` (the parsed flags) and writes summary.json; returns the summary."""
    import jax

    import jaxquba.loader  # noqa: F401  (the built-in model registry, before names are resolved)
    from jaxquba import __version__, protocols, run_checks, zoo
    from jaxquba.engine import make_mesh
    from jaxquba.errors import UserError
    from jaxquba.store import Store, write_json_atomic
    from jaxquba.studies import resolve

    if not settings.model:
        raise UserError("no model given: pass --model=NAME (see --list_models), or --demo")
    if settings.batch_size < 1 or settings.chunk_examples < 1 or settings.max_examples < 0:
        raise UserError("--batch_size and --chunk_examples must be positive and --max_examples >= 0")
    protocol = protocols.get(settings.protocol)
    dims = resolve(settings.dimensions)
    models = [zoo.resolve(m) for m in settings.model]  # unknown names fail before any work
    datasets: dict[str, DatasetState] = {}
    for spec in settings.datasets:
        dataset_state(datasets, spec, settings.data_dir)
    out_dir = epath.Path(settings.output_dir).expanduser()  # local, or remote (gs://) as big_vision's workdirs
    run_checks.check_output_dir(out_dir)
    store = Store(out_dir / "store")
    mesh = make_mesh(settings.model_axis)
    other_models = OtherModels(settings, mesh, protocol)
    logging.info("mesh %s over %d device(s) in %d process(es)", dict(mesh.shape), jax.device_count(),
                 jax.process_count())
    summary = {"jaxquba_version": __version__, "protocol": protocol.spec,
               "reference_dataset": datasets[settings.datasets[0]].name,
               "models": [evaluate_model(name, settings, store, mesh, datasets, dims, protocol, other_models)
                          for name in models]}
    summary["datasets"] = {s.name: ({"available": True, "examples": len(s.source), "fingerprint": s.source.fingerprint,
                                     "left_out": run_checks.left_out_files(s.source)} if s.source is not None
                                    else {"available": False, "reason": s.missing}) for s in datasets.values()}
    if jax.process_index() == 0:
        write_json_atomic(out_dir / "summary.json", summary)
    return summary
