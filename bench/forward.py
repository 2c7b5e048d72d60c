"""Forward throughput: the jitted Flax model (fp32, bf16) against PyTorch timm (eager, torch.compile), same process.

    python -m bench.forward [--models=resnet50,vit_base_patch16_224,convnext_tiny,tf_efficientnet_lite0]
                            [--batch=8] [--iters=3] [--torch_compile]

For each model: images/s of ``jax.jit(apply)`` (compiled with the XLA options the engine would choose for it,
:mod:`jaxquba.engine.compile_options`) in float32 and bfloat16 compute, of timm in eager float32 and (with
``--torch_compile``, where inductor works) of ``torch.compile``, all on the same random batch; ratios are JAX over
PyTorch eager fp32. Each timing is the best of ``--iters`` rounds after one warm-up (compilation excluded); a round
calls every side once, in turn, so that a change in the machine's load reaches all sides alike. Weights
are random (speed does not depend on them). Models that are not registered yet are skipped with a note.

Also printed: the model's FLOPs per image (XLA cost analysis) and, for bf16, the fraction of the measured bf16 matmul
peak of this device that the forward reaches (a large square matmul timed the same way).
"""

from __future__ import annotations

import datetime
import platform
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from timing import best_seconds, interleaved_best_seconds

from jaxquba import models, zoo
from jaxquba.engine import compile_options
from jaxquba.errors import UserError, run_cli


FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["resnet50", "vit_base_patch16_224", "convnext_tiny", "tf_efficientnet_lite0"],
                  "registered names or aliases")
flags.DEFINE_integer("batch", 8, "images per forward call")
flags.DEFINE_integer("iters", 3, "timed rounds, each calling every side once (the best is reported)")
flags.DEFINE_bool("torch_compile", False, "also time torch.compile (slow to compile on CPU)")
flags.DEFINE_integer("peak_matmul_size", 2048, "side of the square bf16 matmul that measures the peak")


def jax_forward(spec: zoo.ModelSpec, precision: str,
                batch: int) -> tuple[Callable[[], object], float, dict[str, str]]:
    """(a blocking call of the compiled classifier function on a random batch, its FLOPs per image, the XLA options
    it was compiled with: the engine's choice, :mod:`jaxquba.engine.compile_options`)."""
    from converters.load import random_params

    params = random_params(spec)
    size = spec.data.input_size
    images = jnp.asarray(np.random.default_rng(0).random((batch, size, size, 3), np.float32))
    apply, options = compile_options.compile_traced(jax.jit(models.make_apply(spec, precision)).trace(params, images))
    flops = (apply.cost_analysis() or {}).get("flops", float("nan"))
    return (lambda: apply(params, images).block_until_ready()), flops / batch, options


def torch_forward(timm, spec: zoo.ModelSpec, batch: int, compiled: bool) -> Callable[[], object] | None:
    """A blocking call of timm in float32, eager or torch.compile (None where compilation fails), on the GPU where
    torch sees one."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the peer on the same accelerator as jax
    model = timm.create_model(spec.arch, pretrained=False, num_classes=spec.data.num_classes).eval().to(device)
    size = spec.data.input_size
    images = torch.rand(batch, 3, size, size, device=device)
    if compiled:
        try:
            model = torch.compile(model)
            with torch.inference_mode():
                model(images)
        except Exception as e:  # inductor needs a working C++ toolchain; report instead of failing the run
            print(f"  torch.compile unavailable for {spec.arch}: {type(e).__name__}: {str(e)[:120]}")
            return None

    def run():
        with torch.inference_mode():
            model(images)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def bf16_matmul_peak(size: int, iters: int) -> float:
    """Measured FLOP/s of a square bfloat16 matmul on the default device."""
    a = jnp.asarray(np.random.default_rng(0).random((size, size)), jnp.bfloat16)
    matmul = jax.jit(lambda x, y: x @ y)
    seconds = best_seconds(lambda: matmul(a, a).block_until_ready(), iters)
    return 2 * size ** 3 / seconds


def main(argv) -> None:
    del argv
    from converters.torch_env import import_timm

    timm = import_timm()
    import torch

    device = jax.devices()[0]
    print(f"# forward benchmark {datetime.date.today()}: {platform.processor() or platform.machine()}, "
          f"{device.platform} ({device.device_kind}), jax {jax.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), batch {FLAGS.batch}, best of {FLAGS.iters}")
    peak = bf16_matmul_peak(FLAGS.peak_matmul_size, FLAGS.iters)
    print(f"measured bf16 matmul peak: {peak / 1e9:.1f} GFLOP/s ({FLAGS.peak_matmul_size}^2 matmul)")
    rows = []
    for name in FLAGS.models:
        try:
            spec = zoo.get(name)
        except UserError:
            print(f"  {name}: not registered yet, skipped")
            continue
        sides = {}
        sides["jax32"], flops, options = jax_forward(spec, "fp32", FLAGS.batch)
        sides["jax16"], _, _ = jax_forward(spec, "bf16", FLAGS.batch)
        if options:
            print(f"  {spec.name}: compiled with XLA options {options}")
        sides["eager"] = torch_forward(timm, spec, FLAGS.batch, compiled=False)
        if FLAGS.torch_compile and (compiled := torch_forward(timm, spec, FLAGS.batch, compiled=True)):
            sides["compiled"] = compiled
        rate = {name: FLAGS.batch / seconds
                for name, seconds in interleaved_best_seconds(sides, FLAGS.iters).items()}
        rows.append((spec.name, flops, rate["jax32"], rate["jax16"], rate["eager"], rate.get("compiled"),
                     rate["jax16"] * flops / peak))
    header = ("model", "GFLOP/img", "jax fp32 img/s", "jax bf16 img/s", "torch eager img/s", "torch.compile img/s",
              "jax fp32 / eager", "jax bf16 / eager", "bf16 % of matmul peak")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, flops, j32, j16, eager, compiled, peak_fraction in rows:
        cells = (name, f"{flops / 1e9:.2f}", f"{j32:.1f}", f"{j16:.1f}", f"{eager:.1f}",
                 "n/a" if compiled is None else f"{compiled:.1f}", f"{j32 / eager:.2f}", f"{j16 / eager:.2f}",
                 f"{100 * peak_fraction:.0f}%")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    app.run(lambda argv: run_cli(lambda: main(argv)))
