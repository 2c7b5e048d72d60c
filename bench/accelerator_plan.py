"""The accelerator plan (issue 19 item 5): the work of the full QUBA protocol per model from XLA's cost analysis of
the compiled programs, and the time it projects on an H100 and an H200.

    .venv/bin/python bench/accelerator_plan.py [--models resnet50,vit_base_patch16_224] [--batch 8] [--no-kernels]

Work, per image, from ``compiled.cost_analysis()`` of programs compiled on this machine (the FLOPs of a program do
not depend on the backend; "bytes accessed" is XLA's estimate for this backend's fusion, an upper bound on a GPU's):

* forward: one forward of the model, in fp32 and in bf16 compute;
* gradient: one input gradient of the cross-entropy (forward and backward), i.e. one attack step;
* kernels: each model-free view's own work (the release-style corruptions with their JPEG round trip and resize),
  compiled one view at a time so that no loop hides a trip count.

The protocol's passes come from the app's planner, on the demo set standing in for ImageNet's validation set: the
reference pass (clean, the corruptions, FGSM, PGD-10), where an attack view of ``cost`` c takes c/2 gradient steps
and one forward on its result, and every other view one forward plus its kernel. The fixed-data dimensions (OOD,
object focus, shape bias) are one clean forward per image of their own sets, at the published sizes below.

Projection: each part's time is the larger of FLOPs / peak FLOP/s and bytes / peak bandwidth (a roofline lower
bound; real kernels reach a fraction of it, and ``bench/accelerator_check.sh`` measures that fraction on a GPU).
Peaks: H100 SXM datasheet (dense bf16 989 TFLOP/s, dense TF32 495 TFLOP/s, HBM3 3.35 TB/s); H200 as measured on
this workplace's machine (bf16 8192^3 matmul 788 TFLOP/s, device copy 4.3 TB/s; TF32 scaled by the same 0.80).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import types

import jax
import jax.numpy as jnp
import numpy as np

# The published sizes of the sets QUBA's fixed-data dimensions read (one clean forward per image each).
REFERENCE_IMAGES = 50_000  # ImageNet validation: the reference pass
FIXED_DATA_IMAGES = {"ImageNet-R": 30_000, "model-vs-human edge": 160, "silhouette": 160, "sketch": 800,
                     "stylized": 800, "cue-conflict": 1_280, "ImageNet-9 mixed_same": 4_050,
                     "ImageNet-9 mixed_rand": 4_050}
PEAKS = {  # name: (bf16 FLOP/s, fp32-as-TF32 FLOP/s, bytes/s)
    "H100 SXM (datasheet)": (989e12, 495e12, 3.35e12),
    "H200 (measured here)": (788e12, 495e12 * 788 / 989, 4.3e12),
}


def _cost(compiled) -> tuple[float, float]:
    """(FLOPs, bytes accessed) of a compiled program."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)), float(analysis.get("bytes accessed", 0.0))


def model_costs(name: str, batch: int) -> dict:
    """Per image: forward (fp32, bf16) and input-gradient (fp32, bf16) (FLOPs, bytes)."""
    from jaxquba.loader import load_classifier

    out = {}
    for precision in ("fp32", "bf16"):
        classifier = load_classifier(name, weights="random", precision=precision)
        size = classifier.spec.data.input_size
        images = jnp.zeros((batch, size, size, 3), jnp.float32)
        labels = jnp.zeros((batch,), jnp.int32)

        def loss(params, x):
            logits = classifier.apply(params, x).astype(jnp.float32)
            return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1).sum()

        forward = jax.jit(classifier.apply).lower(classifier.params, images).compile()
        gradient = jax.jit(jax.grad(loss, argnums=1)).lower(classifier.params, images).compile()
        out[precision] = {"forward": [v / batch for v in _cost(forward)],
                          "gradient": [v / batch for v in _cost(gradient)]}
    return out


def reference_pass(name: str) -> list[tuple[int, tuple]]:
    """The QUBA reference pass of ``name`` as the app's planner makes it on the demo set: per group of one host
    preprocessing, the side of its images and its view requests."""
    from jaxquba import protocols, zoo
    from jaxquba.app import planning
    from jaxquba.studies import resolve

    settings = types.SimpleNamespace(datasets=["demo"], data_dir=None, seed=0, views="")
    datasets = {}
    planning.dataset_state(datasets, "demo", None)
    plan = planning.plan_model(zoo.get(name), settings, datasets, resolve("all"), protocols.get("quba_paper"))
    return [(transform.size, requests) for (_, transform), requests in plan.groups.items()]


def kernel_costs(groups, batch: int) -> tuple[float, float, int]:
    """Summed per-image (FLOPs, bytes) of every model-free view's own work, and how many views."""
    from jaxquba.views.base import ViewContext

    flops = bytes_ = 0.0
    count = 0
    for size, requests in groups:
        images = jnp.zeros((batch, size, size, 3), jnp.float32)
        ids = jnp.arange(batch, dtype=jnp.int32)
        for request in requests:
            view = request.view
            if view.needs_model or view.name == "clean":
                continue

            def apply(x, example_ids, view=view):
                return view(x, ViewContext(example_ids, jnp.zeros_like(example_ids), 0, None))

            f, b = _cost(jax.jit(apply).lower(images, ids).compile())
            flops, bytes_, count = flops + f / batch, bytes_ + b / batch, count + 1
    return flops, bytes_, count


def seconds(flops: float, bytes_: float, peak_flops: float, peak_bytes: float) -> float:
    return max(flops / peak_flops, bytes_ / peak_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,vit_base_patch16_224")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-kernels", dest="kernels", action="store_false",
                        help="leave the corruption kernels' own work out (saves compiling each view)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"## Accelerator plan: the QUBA protocol's work from XLA's cost analysis — {datetime.date.today()}\n")
    print(f"Compiled on {platform.machine()}, {os.cpu_count()} CPU cores (load {load[0]:.1f}), jax {jax.__version__}, "
          f"batch {args.batch}.\n")
    import jaxquba.loader  # noqa: F401  (registers the built-in models)
    from jaxquba import zoo
    for name in args.models.split(","):
        spec = zoo.get(name)
        costs = model_costs(name, args.batch)
        groups = reference_pass(name)
        attacks = [r.view for _, reqs in groups for r in reqs if r.view.needs_model]
        free = [r.view for _, reqs in groups for r in reqs if not r.view.needs_model]
        steps = sum(v.cost / 2 for v in attacks)
        k_flops, k_bytes, k_views = (kernel_costs(groups, args.batch)
                                     if args.kernels else (0.0, 0.0, 0))
        fixed = sum(FIXED_DATA_IMAGES.values())
        print(f"### {spec.name}\n")
        print(f"Reference pass per image: {len(free)} model-free views (one forward each; {k_views} kernels costed) "
              f"and {len(attacks)} attack views ({steps:.0f} gradient steps and {len(attacks)} forwards); "
              f"{REFERENCE_IMAGES:,} reference images and {fixed:,} images of the fixed-data sets.\n")
        print("| precision | forward GFLOP | forward MB | gradient GFLOP | gradient MB | kernels GFLOP | kernels MB "
              "| protocol PFLOP | " + " | ".join(f"{p} min" for p in PEAKS) + " |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(PEAKS))
        for precision in ("fp32", "bf16"):
            (ff, fb), (gf, gb) = costs[precision]["forward"], costs[precision]["gradient"]
            forwards = REFERENCE_IMAGES * (len(free) + len(attacks)) + fixed
            gradients = REFERENCE_IMAGES * steps
            total_flops = forwards * ff + gradients * gf + REFERENCE_IMAGES * k_flops
            cells = []
            for peak_bf16, peak_tf32, peak_bytes in PEAKS.values():
                peak = peak_bf16 if precision == "bf16" else peak_tf32
                total = (forwards * seconds(ff, fb, peak, peak_bytes) + gradients * seconds(gf, gb, peak, peak_bytes)
                         + REFERENCE_IMAGES * seconds(k_flops, k_bytes, peak, peak_bytes))
                cells.append(f"{total / 60:.1f}")
            print(f"| {precision} | {ff / 1e9:.2f} | {fb / 1e6:.1f} | {gf / 1e9:.2f} | {gb / 1e6:.1f} | "
                  f"{k_flops / 1e9:.3f} | {k_bytes / 1e6:.1f} | {total_flops / 1e15:.1f} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
