"""ImageNet ReaL accuracy (Beyer et al. 2020) computed properly, and the study's last-batch value (P2.2 QUIRK).

A prediction is correct when it is in the image's ReaL label set; images whose set is empty are left out.
Label sets arrive as multi-hot rows (N, 1000) -- the data pipeline's encoding of ``real_labels`` lists, where an
empty list is an all-False row.

``p2_paper``: the study's script loops over the 50,000 validation images in torchvision ``ImageFolder`` order
(class folders in sorted-WNID order, files sorted by name within each) with batch 512 and logs only the accuracy
of the last batch, i.e. of the last 50,000 - 97 * 512 = 336 images (the end of classes 993-999), skipping those
with an empty label set (326 remain). Every published ReaL value is a multiple of 100/326.
"""

from __future__ import annotations

import numpy as np

from jaxquba.errors import UserError

P2_BATCH_SIZE = 512
MODES = ("proper", "p2_paper")


def real_accuracy(predictions: np.ndarray, real_multi_hot: np.ndarray) -> float:
    """Percent of images with a non-empty ReaL set whose top-1 prediction is in the set."""
    predictions = np.asarray(predictions).reshape(-1)
    real_multi_hot = np.asarray(real_multi_hot, bool)
    if real_multi_hot.shape[0] != predictions.shape[0]:
        raise UserError(f"{len(predictions)} predictions but {real_multi_hot.shape[0]} ReaL label rows")
    labelled = real_multi_hot.any(axis=1)
    if not labelled.any():
        raise UserError("ReaL accuracy is undefined: no image has a ReaL label")
    hits = real_multi_hot[np.arange(len(predictions)), predictions]
    return float(100.0 * hits[labelled].mean())


def imagefolder_order(labels: np.ndarray, file_names: np.ndarray) -> np.ndarray:
    """The permutation that puts examples in torchvision ``ImageFolder`` order: by class index (sorted-WNID folders),
    then by file name."""
    return np.lexsort((np.asarray(file_names), np.asarray(labels)))


def last_batch(num_examples: int, batch_size: int = P2_BATCH_SIZE) -> slice:
    """Positions of the last batch of a loop over ``num_examples`` in batches of ``batch_size``."""
    if num_examples < 1:
        raise UserError("the last-batch ReaL value needs at least one example")
    return slice((num_examples - 1) // batch_size * batch_size, num_examples)


def real_accuracy_last_batch(predictions: np.ndarray, real_multi_hot: np.ndarray, order: np.ndarray,
                             batch_size: int = P2_BATCH_SIZE) -> float:
    """The study's logged ReaL value: :func:`real_accuracy` over the last batch of the examples taken in ``order``
    (:func:`imagefolder_order`)."""
    positions = np.asarray(order)[last_batch(len(order), batch_size)]
    return real_accuracy(np.asarray(predictions)[positions], np.asarray(real_multi_hot)[positions])
