"""Object focus (P1.3) on the Backgrounds Challenge (ImageNet-9): how much accuracy a model loses when the
background of an image comes from another class.

The 1000 -> 9 class map (``in_to_in9.json`` of MadryLab/backgrounds_challenge: 370 ImageNet classes map to
0..8, the other 630 to −1) is read from a file the user provides; the challenge repository carries no licence,
so jaxquba does not ship a copy. A prediction mapped to −1 is always wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxquba.errors import UserError

IN9_CLASSES = ("dog", "bird", "vehicle", "reptile", "carnivore", "insect", "instrument", "primate", "fish")


def load_in_to_in9(path: str | Path, num_classes: int = 1000) -> np.ndarray:
    """(num_classes,) int array: ImageNet index -> ImageNet-9 index, or −1 where the class has none."""
    path = Path(path)
    try:
        mapping = json.loads(path.read_text())
        table = np.array([int(mapping[str(i)]) for i in range(num_classes)], np.int32)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"cannot read the ImageNet -> ImageNet-9 map {path}: {e!r}. It is in_to_in9.json of "
                        "github.com/MadryLab/backgrounds_challenge (keys '0'..'999', values -1..8).") from None
    if table.min() < -1 or table.max() >= len(IN9_CLASSES):
        raise UserError(f"{path}: values must lie in -1..8, found {table.min()}..{table.max()}")
    return table


def in9_predictions(top1: np.ndarray, in_to_in9: np.ndarray) -> np.ndarray:
    """1000-way top-1 predictions mapped to ImageNet-9 classes (−1, an unmapped class, never matches a label in
    0..8); their accuracy is :func:`jaxquba.metrics.accuracy.top_k_accuracy`."""
    return np.asarray(in_to_in9)[np.asarray(top1)]


def object_focus(acc_mixed_same: float, acc_mixed_rand: float, acc_clean: float) -> float:
    """Obj.Foc. = 1 − (acc_mixed_same − acc_mixed_rand) / clean ImageNet accuracy."""
    return 1.0 - (acc_mixed_same - acc_mixed_rand) / acc_clean
