"""XLA compile options chosen per program: on CPU, whether YNNPACK or XLA's own kernels run the convolutions.

XLA:CPU (jaxlib 0.10) hands matrix products, convolutions and the elementwise work around them to YNNPACK by
default. YNNPACK's spatial convolutions, dense or grouped, are slow at the shapes of ImageNet CNNs, and its fusions
take every convolution with them: a 3x3 convolution, 64 -> 64 channels on 8x56x56, takes 18.4 ms in a YNNPACK
fusion, 10.0 ms in XLA's Eigen convolution and 8.5 ms in PyTorch's oneDNN. No form of the convolution keeps it out
of YNNPACK (XLA folds a transposed kernel back to the layout YNNPACK takes; a fusion boundary leaves the lone
convolution to YNNPACK as well), so the choice is the program's: ``xla_cpu_experimental_ynn_fusion_type`` empty
turns YNNPACK's fusions off. YNNPACK's matrix products are faster than XLA's own, so that pays only where spatial
convolutions carry enough of the work. Forward at batch 8, both programs in one process, interleaved, with the
share of the model's matmul FLOPs in spatial convolutions (2-core CPU, 2026-12-05):

    RegNetY-32GF   0.49  5407 -> 2850 ms     RegNetY-3.2GF  0.19   654 -> 412 ms
    RegNetY-400MF  0.14   119 -> 93 ms       Inception-v3   0.78   356 -> 253 ms
    ResNet-18      0.99   213 -> 162 ms      DenseNet-121   0.48   391 -> 300 ms
    ResNet-50      0.48   422 -> 383 ms      VGG-16         1.00  1400 -> 1296 ms
    EffNetV2-S     0.48   342 -> 316 ms      SENet-154      0.24  3471 -> 3264 ms
    LeViT-384      0.17   230 -> 225 ms      LeViT-256      0.15   121 -> 124 ms
    ResNeXt-50     0.08   771 -> 736 ms      ConvNeXt-T     0.04   480 -> 496 ms
    ViT-B/16       0.01  1424 -> 1444 ms     lite0          0.00  58.4 -> 58.9 ms (no convolution on CPU)

Grouped convolutions (RegNet's) gain most. Hence the rule, which takes every gain above 5% and costs LeViT-256
3%: a CPU program whose spatial convolutions (a window larger than 1x1) carry at least
:data:`SPATIAL_CONVOLUTION_SHARE` of its convolution and matrix-product FLOPs compiles with YNNPACK's fusions off;
any other program, and any program on another platform, keeps XLA's defaults. Both run the same sums in another
order (ResNet-50's logits move by at most 4e-6). A user's own ``XLA_FLAGS`` setting of the option wins.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
from jax.extend import core as jex_core

YNN_FUSION_TYPES = "xla_cpu_experimental_ynn_fusion_type"
SPATIAL_CONVOLUTION_SHARE = 0.1


def _sub_jaxprs(value: Any):
    if isinstance(value, jex_core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, jex_core.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _sub_jaxprs(item)


def _branch_for(platform: str, branches, branches_platforms) -> Any:
    """The branch of a ``jax.lax.platform_dependent`` cond that runs on ``platform`` (None marks the default)."""
    default = None
    for branch, platforms in zip(branches, branches_platforms):
        if platforms is None:
            default = branch
        elif platform in platforms:
            return branch
    return default


def matmul_flops(jaxpr: jex_core.Jaxpr, platform: str = "cpu") -> tuple[float, float]:
    """(FLOPs of spatial convolutions, FLOPs of all convolutions and matrix products) of ``jaxpr`` as it
    runs on ``platform``: a platform-dependent branch counts as the platform's own branch, another cond as its
    costliest branch, a scan's body ``length`` times, a while loop's body once (its trip count is data)."""
    spatial = total = 0.0
    for eqn in jaxpr.eqns:
        name, params = eqn.primitive.name, eqn.params
        if name == "conv_general_dilated":
            lhs, rhs = (v.aval for v in eqn.invars)
            out = eqn.outvars[0].aval
            rhs_spec = params["dimension_numbers"].rhs_spec  # (out features, in features, *spatial)
            window = math.prod(rhs.shape[d] for d in rhs_spec[2:])
            flops = 2.0 * math.prod(out.shape) * window * rhs.shape[rhs_spec[1]]  # in features per group
            total += flops
            if window > 1:
                spatial += flops
        elif name == "dot_general":
            lhs = eqn.invars[0].aval
            (contracting, _), _ = params["dimension_numbers"]
            total += 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs.shape[d] for d in contracting)
        elif name == "cond":
            branches = [b.jaxpr for b in params["branches"]]
            if params.get("branches_platforms"):
                chosen = _branch_for(platform, branches, params["branches_platforms"])
                branches = [] if chosen is None else [chosen]
            counts = [matmul_flops(b, platform) for b in branches]
            if counts:
                d, t = max(counts, key=lambda c: c[1])
                spatial, total = spatial + d, total + t
        else:
            times = params.get("length", 1) if name == "scan" else 1
            for sub in _sub_jaxprs(list(params.values())):
                d, t = matmul_flops(sub, platform)
                spatial, total = spatial + times * d, total + times * t
    return spatial, total


def spatial_convolution_share(jaxpr: jex_core.Jaxpr, platform: str = "cpu") -> float:
    """The fraction of ``jaxpr``'s convolution and matrix-product FLOPs in spatial convolutions (0 without any)."""
    spatial, total = matmul_flops(jaxpr, platform)
    return spatial / total if total else 0.0


def compiler_options(jaxpr: jex_core.Jaxpr, platform: str) -> dict[str, str]:
    """XLA options to compile ``jaxpr`` with on ``platform`` (see the module docstring): on CPU, YNNPACK's fusions
    off for a program of spatial convolutions, unless ``XLA_FLAGS`` already sets them; otherwise none."""
    if platform != "cpu" or YNN_FUSION_TYPES in os.environ.get("XLA_FLAGS", ""):
        return {}
    if spatial_convolution_share(jaxpr, platform) >= SPATIAL_CONVOLUTION_SHARE:
        return {YNN_FUSION_TYPES: ""}
    return {}


def compile_traced(traced: jax.stages.Traced, platform: str | None = None) -> tuple[jax.stages.Compiled,
                                                                                     dict[str, str]]:
    """``traced`` lowered and compiled with :func:`compiler_options` for ``platform`` (the default backend's
    where None); returns the executable and the options used."""
    options = compiler_options(traced.jaxpr.jaxpr, platform or jax.default_backend())
    return traced.lower().compile(compiler_options=options or None), options
