"""Imports torch + timm on machines where torchvision's compiled ops cannot load (CPU-only torch).

The torchvision wheels on PyPI are CUDA builds; on a CPU-only torch their C extension fails to load and the first
``import torchvision`` dies registering fake kernels for ops that were never defined. timm imports torchvision, so
timm dies with it. Defining the two op schemas first makes the import succeed; timm's classifiers never call them.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def import_timm():
    """Returns the ``timm`` module (and makes ``torchvision`` importable), raising a clear error if absent."""
    from jaxquba.errors import UserError

    try:
        import torch
    except ImportError:
        raise UserError("PyTorch is needed for this (parity, timm reference). Install the extra: "
                        "pip install -e '.[parity]'") from None
    if not hasattr(torch.ops.torchvision, "nms"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
        import_timm._keepalive = lib  # the library object must outlive this call
    try:
        import torchvision  # noqa: F401
        import timm
    except ImportError:
        raise UserError("timm and torchvision are needed for this. Install the extra: pip install -e '.[parity]'") from None
    return timm


@functools.lru_cache(maxsize=None)
def import_open_clip():
    """Returns the ``open_clip`` module (it imports torchvision too, so the same shim applies)."""
    from jaxquba.errors import UserError

    import_timm()
    try:
        import open_clip
    except ImportError:
        raise UserError("open_clip is needed for this (CLIP references). Install it: pip install open_clip_torch"
                        ) from None
    return open_clip


@functools.lru_cache(maxsize=None)
def import_bcos():
    """Returns the ``bcos`` package (the B-cos reference models; it imports torchvision, so the same shim applies)."""
    from jaxquba.errors import UserError

    import_timm()
    try:
        import bcos.models.pretrained  # noqa: F401
        import bcos
    except ImportError:
        raise UserError("the bcos package is needed for this (B-cos references). Install it: pip install bcos==0.1.3"
                        ) from None
    return bcos
