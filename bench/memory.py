"""Memory of the reference step per batch size (issue 19 item 6): peak host RSS and the device memory XLA reports.

    .venv/bin/python bench/memory.py [--models tf_efficientnet_lite0,resnet50] [--batches 1,4,8,16,32]
                                     [--execute_up_to 8]

The reference step is what the app computes for a model's QUBA reference pass, planned by the app's own planner on
the demo set (``accelerator_plan.reference_pass``): two steps, one per host preprocessing --

* ``clean+attacks``: clean, FGSM and PGD-10 (eps 8/255, network-input space) with the accuracy/calibration heads;
* ``imagenet_c x75``: the 75 release-style ImageNet-C views (15 corruptions x 5 severities) with top-1.

Each (model, batch size) runs in a fresh process (peak RSS is a high-water mark of the whole process), with random
weights (the memory does not depend on their values), the quba_paper protocol and the persistent compilation cache
off. In it, each step is built by the engine (:class:`jaxquba.engine.Engine`, so the same jit, shardings and padded
batch as a run), lowered and compiled on a batch of random photos, and then, for batch sizes up to
``--execute_up_to``, run once. Printed per step:

* XLA's memory analysis of the compiled step, per device: arguments (parameters and the batch), outputs,
  temporaries, and their sum less aliasing -- the number ``check_step_memory`` compares with the device's limit.
  On a CPU this is XLA:CPU's buffer assignment, an estimate of what a GPU would need (its fusion differs);
* the process's peak RSS after loading the model, after compiling the step, and after running it once
  (``resource.getrusage``'s ``ru_maxrss``; on a CPU the "device" buffers live in the same host memory).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

MIB = 1 << 20


def peak_rss_mib() -> float:
    """The process's peak resident set so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: str, batch_size: int, execute: bool) -> list[dict]:
    """One row per step of ``model``'s reference pass at ``batch_size`` (run in its own process)."""
    import jax
    import numpy as np

    import jaxquba.loader  # noqa: F401  (the built-in registry)
    from accelerator_plan import reference_pass
    from jaxquba import protocols
    from jaxquba.data.pipeline import HostBatch
    from jaxquba.engine import Engine
    from jaxquba.loader import load_classifier

    classifier = load_classifier(model, weights="random")
    loaded = peak_rss_mib()
    rows = []
    for size, requests in reference_pass(model):
        engine = Engine(classifier, batch_size=batch_size, seed=0, protocol=protocols.get("quba_paper"))
        rng = np.random.default_rng(0)

        def reader(local_batch, indices, size=size):
            indices = np.asarray(list(indices), np.int32)
            for i in range(0, len(indices), local_batch):
                ids = indices[i:i + local_batch]
                yield HostBatch(rng.integers(0, 256, (len(ids), size, size, 3), dtype=np.uint8),
                                rng.integers(0, 1000, len(ids)).astype(np.int32), ids, {})

        # The engine's own step and device batch (what run_range compiles), compiled and run here in two stages so
        # that the RSS of each is seen apart.
        step = engine._step(requests)
        batch = next(engine._device_batches(reader, 0, batch_size, size))
        started = time.perf_counter()
        compiled = step.lower(engine.params, batch).compile()
        compile_s = time.perf_counter() - started
        after_compile = peak_rss_mib()
        memory = compiled.memory_analysis()
        run_s = after_run = None
        if execute:
            started = time.perf_counter()
            jax.block_until_ready(compiled(engine.params, batch))
            run_s = time.perf_counter() - started
            after_run = peak_rss_mib()
        attacks = [r for r in requests if r.view.needs_model]
        rows.append({
            "model": classifier.spec.name, "batch": batch_size,
            "step": f"clean+attacks x{len(requests)}" if attacks else f"imagenet_c x{len(requests)}",
            "argument_mib": memory.argument_size_in_bytes / MIB, "output_mib": memory.output_size_in_bytes / MIB,
            "temp_mib": memory.temp_size_in_bytes / MIB,
            "needed_mib": (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
                           - memory.alias_size_in_bytes) / MIB,
            "rss_loaded_mib": loaded, "rss_compiled_mib": after_compile, "rss_run_mib": after_run,
            "compile_s": compile_s, "run_s": run_s})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tf_efficientnet_lite0,resnet50")
    parser.add_argument("--batches", default="1,4,8,16,32")
    parser.add_argument("--execute_up_to", type=int, default=8,
                        help="run the compiled steps once for batch sizes up to this (larger ones: compile only; on "
                             "a CPU one run of PGD-10 and 75 corruptions at batch 32 takes minutes)")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "BATCH"), help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--execute", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.execute)))
        return

    load = os.getloadavg()
    print(f"## Memory of the reference step per batch size — {datetime.date.today()}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / (1 << 30):.0f} GiB RAM, load average at start "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; random weights, quba_paper protocol, XLA:CPU.\n")
    print("| model | batch | step | XLA args MiB | XLA out MiB | XLA temp MiB | XLA needed MiB | RSS loaded MiB "
          "| RSS peak compiled MiB | RSS peak run MiB | compile s | run s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            command = [sys.executable, __file__, "--one", model, str(batch)]
            if batch <= args.execute_up_to:
                command.append("--execute")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
            for row in json.loads(done.stdout.strip().splitlines()[-1]):
                run_rss = f"{row['rss_run_mib']:.0f}" if row["rss_run_mib"] else "not run"
                run_s = f"{row['run_s']:.1f}" if row["run_s"] else "-"
                print(f"| {row['model']} | {row['batch']} | {row['step']} | {row['argument_mib']:.1f} | "
                      f"{row['output_mib']:.2f} | {row['temp_mib']:.1f} | {row['needed_mib']:.1f} | "
                      f"{row['rss_loaded_mib']:.0f} | {row['rss_compiled_mib']:.0f} | {run_rss} | "
                      f"{row['compile_s']:.0f} | {run_s} |", flush=True)
    load = os.getloadavg()
    print(f"\nLoad average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}.")


if __name__ == "__main__":
    main()
