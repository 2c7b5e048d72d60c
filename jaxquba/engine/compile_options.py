"""XLA compile options chosen per program: on CPU, whether YNNPACK or XLA's own kernels run the convolutions
and matrix products.

XLA:CPU (jaxlib 0.10) hands matrix products, convolutions and the elementwise work around them to YNNPACK by
default. YNNPACK's spatial convolutions, dense or grouped, are slow at the shapes of ImageNet CNNs, and its fusions
take every convolution with them: a 3x3 convolution, 64 -> 64 channels on 8x56x56, takes 18.4 ms in a YNNPACK
fusion, 10.0 ms in XLA's Eigen convolution and 8.5 ms in PyTorch's oneDNN. No form of the convolution keeps it out
of YNNPACK (XLA folds a transposed kernel back to the layout YNNPACK takes; a fusion boundary leaves the lone
convolution to YNNPACK as well), so the choice is the program's: ``xla_cpu_experimental_ynn_fusion_type`` empty
turns YNNPACK's fusions off. That costs only where YNNPACK's fusions save more memory traffic than its products
lose: at the app's batch of 32, XLA's Eigen runs a plain matrix product 20-40% faster than YNNPACK (ConvNeXt-T's
first fc1, 100352x96 by 96x384: 36 against 48 ms; ViT-B/16's qkv, 6304x768 by 768x2304: 106 against 131 ms;
PyTorch 49 and 121 ms), but without YNNPACK, XLA:CPU fuses the elementwise work around a product into loops that
may recompute an expensive producer in each of its consumers. Forward at batch 8, both programs in one process,
interleaved, with the share of the model's matmul FLOPs in spatial convolutions (2-core CPU, 2026-12-05):

    RegNetY-32GF   0.49  5407 -> 2850 ms     RegNetY-3.2GF  0.19   654 -> 412 ms
    RegNetY-400MF  0.14   119 -> 93 ms       Inception-v3   0.78   356 -> 253 ms
    ResNet-18      0.99   213 -> 162 ms      DenseNet-121   0.48   391 -> 300 ms
    ResNet-50      0.48   422 -> 383 ms      VGG-16         1.00  1400 -> 1296 ms
    EffNetV2-S     0.48   342 -> 316 ms      SENet-154      0.24  3471 -> 3264 ms
    LeViT-384      0.17   230 -> 225 ms      LeViT-256      0.15   121 -> 124 ms
    ResNeXt-50     0.08   771 -> 736 ms      ConvNeXt-T     0.04   480 -> 496 ms
    ViT-B/16       0.01  1424 -> 1444 ms     lite0          0.00  58.4 -> 58.9 ms (no convolution on CPU)

Grouped convolutions (RegNet's) gain most.

YNNPACK also runs a matrix product with batch dimensions on one thread: attention's 384 products of 197x64 by
64x197 (ViT-B/16, batch 32) take 25 ms on one core or two, XLA's Eigen product 18.6 ms on two (23.8 on one) and
PyTorch 15.0 (30.0 on one); with more cores the loss grows. Where such products carry enough of the work, Eigen
wins overall. Forward, both programs in one process, with the share of the FLOPs in batched products (for a plain
ViT with T tokens and width D it is T / (T + 6D)), at batch 32 (the app's default) and 8 (2026-12-06):

    CaiT-XXS24   0.140  1741 -> 1294 ms,  407 -> 313 ms    CrossViT-9+ 0.147  1164 -> 986 ms,  238 -> 222 ms
    DeiT-S/16    0.078  1761 -> 1674 ms,  421 -> 410 ms    ViT-B/16    0.041  6287 -> 5963 ms, 1460 -> 1462 ms
    Swin-T       0.031  1867 -> 2037 ms,  462 -> 482 ms    DaViT-T     0.026  1821 -> 1846 ms
    CoaT-Lite-T  0.014   929 -> 1035 ms                    CLIP ViT-B/32 0.010  1476 -> 1475 ms

Depthwise convolutions run as shifted slices on CPU (:func:`jaxquba.models.layers.depthwise_conv`); their FLOPs
are counted as the convolution the slices stand for. Programs of them gain from Eigen's products once
ConvNeXt's LayerNorm no longer recomputes the convolution before it (:func:`jaxquba.models.layers.materialize`).
Forward with YNNPACK's fusions against without them, both programs in one process, with the share of the FLOPs
in depthwise convolutions, at batch 32 and 8 (2026-12-06; the YNNPACK side of ConvNeXt, lite0, Xception and
MnasNet as it was before the depthwise slices read a padded copy, bench/RESULTS.md):

    ConvNeXt-T   0.024  1806 -> 1665 ms,  441 -> 423 ms    ConvNeXt-B  0.015  5858 -> 5752 ms, 1412 -> 1411 ms
    lite0        0.099   262 -> 232 ms,  59.2 -> 55.1 ms   MobileNetV2 0.074  202-232 -> 187-199, 46.4 -> 41.8
    Xception     0.016  3917 -> 3246 ms,  844 -> 766 ms    MnasNet-0.5 0.177  96.7 -> 83.4 ms, 20.6 -> 18.8 ms
    EfficientNet-B0 0.098  304-313 -> 312-315 ms, 79-80 -> 74-84 ms (within the runs' spread)

Where attention runs beside them, YNNPACK's fusions keep winning (FastViT-SA12, depthwise 0.047 and batched products
0.005: 1140 against 1261 ms at batch 32; CoaT-Lite-T 836 against 905 ms), as they do for Swin-T and DaViT above.

Hence the rule: a CPU program compiles with YNNPACK's fusions off where its spatial convolutions (a window larger
than 1x1) carry at least :data:`SPATIAL_CONVOLUTION_SHARE` of its convolution and matrix-product FLOPs, where its
batched products carry at least :data:`BATCHED_PRODUCT_SHARE`, or where its depthwise convolutions carry at least
:data:`DEPTHWISE_SHARE` and it has no batched product. It takes every gain above 5% and costs LeViT-256 3% (and
ViT-B/16 at batch 8 and EfficientNet-B0 nothing beyond the runs' spread); any other program, and any program on
another platform, keeps XLA's defaults. Both run the same sums in another order (ResNet-50's logits move by at most
4e-6). A user's own ``XLA_FLAGS`` setting of the option wins.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import jax
from jax.extend import core as jex_core

YNN_FUSION_TYPES = "xla_cpu_experimental_ynn_fusion_type"
SPATIAL_CONVOLUTION_SHARE = 0.1
BATCHED_PRODUCT_SHARE = 0.035
DEPTHWISE_SHARE = 0.005


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


class MatmulFlops(NamedTuple):
    """FLOPs of a program's convolutions and matrix products, and of the two kinds the CPU choice looks at."""

    spatial_convolution: float  # convolutions whose window is larger than 1x1, dense or grouped
    batched_product: float  # matrix products with batch dimensions (attention's two products)
    total: float  # every convolution and matrix product
    depthwise: float = 0.0  # convolutions with one input channel per group, wherever they run as shifted slices

    def __add__(self, other: "MatmulFlops") -> "MatmulFlops":
        return MatmulFlops(*(a + b for a, b in zip(self, other)))

    def times(self, count: int) -> "MatmulFlops":
        return MatmulFlops(*(count * a for a in self))

    def share(self, part: float) -> float:
        """``part`` as a fraction of :attr:`total` (0 for a program without products)."""
        return part / self.total if self.total else 0.0


NO_FLOPS = MatmulFlops(0.0, 0.0, 0.0, 0.0)


def matmul_flops(jaxpr: jex_core.Jaxpr, platform: str = "cpu") -> MatmulFlops:
    """The convolution and matrix-product FLOPs of ``jaxpr`` as it runs on ``platform``: a platform-dependent branch
    counts as the platform's own branch, another cond as its costliest branch, a scan's body ``length`` times, a
    while loop's body once (its trip count is data)."""
    flops = NO_FLOPS
    for eqn in jaxpr.eqns:
        name, params = eqn.primitive.name, eqn.params
        if name == "conv_general_dilated":
            rhs = eqn.invars[1].aval
            rhs_spec = params["dimension_numbers"].rhs_spec  # (out features, in features, *spatial)
            window = math.prod(rhs.shape[d] for d in rhs_spec[2:])
            count = 2.0 * math.prod(eqn.outvars[0].aval.shape) * window * rhs.shape[rhs_spec[1]]  # per group
            depthwise = rhs.shape[rhs_spec[1]] == 1 and params["feature_group_count"] > 1
            flops += MatmulFlops(count if window > 1 else 0.0, 0.0, count, count if depthwise else 0.0)
        elif name == "dot_general":
            lhs = eqn.invars[0].aval
            (contracting, _), (batch, _) = params["dimension_numbers"]
            count = 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs.shape[d] for d in contracting)
            flops += MatmulFlops(0.0, count if batch else 0.0, count)
        elif name == "cond":
            branches = [b.jaxpr for b in params["branches"]]
            if params.get("branches_platforms"):
                chosen = _branch_for(platform, branches, params["branches_platforms"])
                native = _branch_for("", branches, params["branches_platforms"])
                if native is not None and native is not chosen:  # depthwise slices: count the convolution
                    flops += MatmulFlops(0.0, 0.0, 0.0, matmul_flops(native, platform).depthwise)
                branches = [] if chosen is None else [chosen]
            counts = [matmul_flops(b, platform) for b in branches]
            if counts:
                flops += max(counts, key=lambda c: c.total)
        else:
            times = params.get("length", 1) if name == "scan" else 1
            for sub in _sub_jaxprs(list(params.values())):
                flops += matmul_flops(sub, platform).times(times)
    return flops


def compiler_options(jaxpr: jex_core.Jaxpr, platform: str) -> dict[str, str]:
    """XLA options to compile ``jaxpr`` with on ``platform`` (see the module docstring): on CPU, YNNPACK's fusions
    off for a program of spatial convolutions, of batched matrix products, or of depthwise convolutions without
    attention, unless ``XLA_FLAGS`` already sets them; otherwise none."""
    if platform != "cpu" or YNN_FUSION_TYPES in os.environ.get("XLA_FLAGS", ""):
        return {}
    flops = matmul_flops(jaxpr, platform)
    if (flops.share(flops.spatial_convolution) >= SPATIAL_CONVOLUTION_SHARE
            or flops.share(flops.batched_product) >= BATCHED_PRODUCT_SHARE
            or (flops.share(flops.depthwise) >= DEPTHWISE_SHARE and not flops.batched_product)):
        return {YNN_FUSION_TYPES: ""}
    return {}


def compile_traced(traced: jax.stages.Traced, platform: str | None = None) -> tuple[jax.stages.Compiled,
                                                                                     dict[str, str]]:
    """``traced`` lowered and compiled with :func:`compiler_options` for ``platform`` (the default backend's
    where None); returns the executable and the options used."""
    options = compiler_options(traced.jaxpr.jaxpr, platform or jax.default_backend())
    return traced.lower().compile(compiler_options=options or None), options
