"""Output heads shared by several dimensions: one small integer per image instead of 1000 floats.

* ``top1_in200_a`` / ``top1_in200_r``: the argmax over ImageNet-A's / ImageNet-R's 200 classes, as a 1k index
  (labels stay in the 1k space);
* ``decision16``: the 16-class decision of the model-vs-human sets (mean probability over each category's members).

Index tables stay numpy until traced, so importing this module does not start a JAX backend (the app must be able to
call ``jax.distributed.initialize()`` after its imports).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxquba.engine import HeadInputs, register_head
from jaxquba.metrics.sixteen_class import sixteen_class_decisions
from jaxquba.metrics.subsets import subset_indices, subset_predictions

HEAD_IMAGENET_A, HEAD_IMAGENET_R, HEAD_DECISION16 = "top1_in200_a", "top1_in200_r", "decision16"


def subset_top1(name: str) -> Callable[[HeadInputs], jax.Array]:
    """The head: argmax over the classes of subset ``name`` (:func:`jaxquba.metrics.subsets.subset_indices`)."""
    indices = subset_indices(name)
    return lambda x: subset_predictions(x.outputs, indices).astype(jnp.int32)


register_head(HEAD_IMAGENET_A, subset_top1("imagenet_a"))
register_head(HEAD_IMAGENET_R, subset_top1("imagenet_r"))
register_head(HEAD_DECISION16, lambda x: sixteen_class_decisions(x.outputs).astype(jnp.int32))
