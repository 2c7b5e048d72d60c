"""The accelerator check (issue 19 item 5): what a lent GPU measures in one short, prepared run.

    bash bench/accelerator_check.sh OUT            # on the device machine (installs carried wheels, then this)
    python3 bench/accelerator_check.py --out OUT [--images 5000] [--model vit_base_patch16_224] [--budget_s 450]

Steps, each a subprocess with its own share of the time budget, so one slow step cannot take the others down:

1. ``device``: the devices jax sees and the memory each reports;
2. ``forward``: ``bench/forward.py`` (jitted Flax fp32 and bf16 against timm eager fp32 on the same device, FLOPs
   per image from XLA, the measured bf16 matmul peak);
3. ``views``: ``bench/views.py`` (each corruption on the device against imagecorruptions on the host), where
   ``JAXQUBA_SHARED_DATA`` points at photos (a few carried sample photos are enough);
4. ``quba_run``: ``--images`` synthetic photos (``bench/synthetic_folder.py``), then the app on them with random
   weights: accuracy, calibration, class balance, adversarial robustness (FGSM, PGD-10) and corruption robustness
   (75 release-style views): every pass of the QUBA reference set, i.e. ~100 forward-equivalents per image. Recorded:
   wall time, the compile seconds of each pass (summary.json), and reference images per second after compiling.

Everything lands in ``OUT/accelerator_check.json``: per step its command, seconds, return code, and its output (a
parsed summary for the run). A step that fails or runs out of time is recorded as such and the next one runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QUBA_REFERENCE_DIMENSIONS = "accuracy,calibration,class_balance,adversarial,corruption"


def run_step(command: list[str], timeout_s: float, env: dict | None = None) -> dict:
    """Runs ``command`` from the repository root; its output, seconds and return code (None: out of time)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=max(timeout_s, 1),
                              env={**os.environ, **(env or {})})
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        code = None
        stdout = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    seconds = round(time.perf_counter() - started, 1)
    print(f"{' '.join(command[:4])}...: {'timed out' if code is None else f'exit {code}'} after {seconds} s",
          flush=True)
    return {"command": command, "seconds": seconds, "returncode": code, "stdout": stdout[-20000:],
            "stderr": stderr[-4000:]}


def device_facts() -> dict:
    import jax
    return {"jax": jax.__version__, "backend": jax.default_backend(),
            "devices": [{"kind": d.device_kind, "platform": d.platform,
                         "bytes_limit": (d.memory_stats() or {}).get("bytes_limit")} for d in jax.devices()]}


def quba_run(args, work: Path, deadline: float) -> dict:
    photos = work / "synthetic"
    made = run_step([sys.executable, str(BENCH / "synthetic_folder.py"), "--images", str(args.images),
                     "--out", str(photos)], deadline - time.time())
    if made["returncode"] != 0:
        return {"synthetic_photos": made}
    out = work / "quba_run"
    run = run_step([sys.executable, "-m", "jaxquba.main", f"--model={args.model}", "--weights=random",
                    f"--datasets=folder:{photos}", f"--dimensions={QUBA_REFERENCE_DIMENSIONS}",
                    f"--precision={args.precision}", f"--batch_size={args.batch_size}", f"--output_dir={out}",
                    f"--compilation_cache={work / 'xla'}"], deadline - time.time())
    result = {"synthetic_photos": {k: made[k] for k in ("seconds", "returncode")}, "run": run}
    summary_file = out / "summary.json"
    if run["returncode"] == 0 and summary_file.exists():
        [entry] = json.loads(summary_file.read_text())["models"]
        compile_s = sum(r["seconds"] for r in entry["compile_seconds"])
        result.update(images=args.images, compile_seconds=entry["compile_seconds"],
                      values={r["spec"]: r["value"] for r in entry["results"]},
                      reference_images_per_s_after_compile=args.images / max(run["seconds"] - compile_s, 1e-9))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--forward_models", default="resnet50,vit_base_patch16_224,convnext_tiny,tf_efficientnet_lite0")
    parser.add_argument("--forward_batch", type=int, default=256)
    parser.add_argument("--budget_s", type=float, default=450, help="the whole check's time, all steps")
    parser.add_argument("--work", type=Path, default=Path("/tmp/jaxquba_accelerator_check"))
    args = parser.parse_args()

    started = time.time()
    deadline = started + args.budget_s
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": device_facts()}
    # Shares of the budget: the forward benchmark a fifth, the views a tenth, the QUBA run what is left.
    report["forward"] = run_step([sys.executable, str(BENCH / "forward.py"), f"--models={args.forward_models}",
                                  f"--batch={args.forward_batch}", "--iters=5", "--peak_matmul_size=8192"],
                                 args.budget_s / 5)
    if os.environ.get("JAXQUBA_SHARED_DATA"):
        report["views"] = run_step([sys.executable, str(BENCH / "views.py"), "--batch", "64",
                                    "--reference_images", "4"], args.budget_s / 10)
    else:
        report["views"] = {"skipped": "JAXQUBA_SHARED_DATA is not set (the views benchmark needs real photos)"}
    report["quba_run"] = quba_run(args, args.work, deadline)
    report["seconds"] = round(time.time() - started, 1)
    path = args.out / "accelerator_check.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"wrote {path} after {report['seconds']} s")


if __name__ == "__main__":
    main()
