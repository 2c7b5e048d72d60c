"""RobustBench ImageNet models -> the Flax families they are built on.

RobustBench wraps most ImageNet models as ``nn.Sequential(normalize=ImageNormalizer(mean, std), model=<timm
model>)``: the model takes [0, 1] images and normalises them itself. jaxquba's classifiers normalise inside their
apply function too (``DataConfig.mean/std``), so the wrapper maps onto a spec whose data config carries the same mean
and std: the converter reads the inner model under ``model.`` and checks that the normaliser's buffers equal the
spec's mean and std. The state dict is that of RobustBench's loaded model (``robustbench.utils.load_model(...)
.state_dict()``; its Google-Drive files hold an older timm layout that RobustBench filters while loading).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from converters import convnext, resnet, swin, vit
from converters.state_dict import PrefixedReader, StateDictReader
from jaxquba import zoo
from jaxquba.errors import UserError


def check_normalizer(read: StateDictReader, spec: zoo.ModelSpec, prefix: str = "normalize.") -> None:
    """The wrapper's ``ImageNormalizer`` buffers must be the spec's mean and std (float32 rounding aside)."""
    if prefix + "mean" not in read or prefix + "std" not in read:
        raise UserError(f"{spec.name}: the checkpoint has no RobustBench normaliser ({prefix}mean, {prefix}std); "
                        "give the state_dict of RobustBench's loaded model (robustbench.utils.load_model(...)), "
                        "whose network sits under 'model.' behind it")
    for name, expected in (("mean", spec.data.mean), ("std", spec.data.std)):
        got = read(prefix + name).reshape(-1)
        if got.shape != (3,) or not np.allclose(got, expected, rtol=0, atol=1e-6):
            raise UserError(f"{spec.name}: the checkpoint normalises with {name} {got.tolist()}, the spec with "
                            f"{list(expected)}; it is not this model's RobustBench checkpoint")


def _behind_normalizer(convert: Callable[[StateDictReader, zoo.ModelSpec], dict[str, Any]], what: str):
    """The converter of a RobustBench wrapper around a family converted by ``convert``: the normaliser is checked,
    the inner model is read under ``model.``."""

    def converter(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
        check_normalizer(read, spec)
        return convert(PrefixedReader(read, "model."), spec)

    converter.__doc__ = what
    return converter


convert_swin = _behind_normalizer(swin.convert, "Liu et al. 2023: Swin-B/L behind the normaliser.")
convert_vit = _behind_normalizer(vit.convert, "Singh et al. 2023: the ConvStem ViT-S behind the normaliser.")
convert_resnet = _behind_normalizer(
    resnet.convert, "Salman et al. 2020: torchvision's resnet50 / wide_resnet50_2 (timm's key names) behind the "
                    "normaliser.")
convert_convnext = _behind_normalizer(
    convnext.convert, "Liu et al. 2023: timm's convnext_base / convnext_large behind the normaliser.")
