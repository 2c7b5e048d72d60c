"""Flax model families and the classifier function every evaluation runs.

A family module (``resnet.py``, ``vit.py``, ...) defines Flax ``linen`` modules, calls :func:`register_family` with a
builder, and registers its named models with :func:`jaxquba.zoo.register`. Importing this package imports every
family module, so the registry is complete after ``import jaxquba.models``. Families never import the converters:
a family names its converter as a string, and :mod:`jaxquba.loader`, the layer above both, joins them.

Conventions shared by all families:
  * A family module maps **normalised** NHWC float images (3 channels) to logits; a network that reads another
    encoding of the image builds it inside the module (B-cos: ``[x, 1 - x]``, with mean 0 and std 1), so that
    views always see the image (docs/ARCHITECTURE.md, "What a model's input is").
  * ``ModelSpec.output == 'probs'`` (or ``'sigmoid_probs'``) marks models whose *peer* wrapper returned
    probabilities (zero-shot CLIP heads; SigLIP's per-class sigmoids); :mod:`jaxquba.protocols` decides per
    protocol whether downstream code sees those probabilities or the logits.
  * Batch norm runs in inference mode; there is no training path.
  * ``dtype`` is the compute dtype (float32 or bfloat16); parameters stay float32 (``param_dtype``).
  * Parameter trees are plain nested dicts of arrays, with the layout the family's converter produces.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba import zoo

PRECISIONS = {"fp32": jnp.float32, "bf16": jnp.bfloat16}
# What a classifier's ``apply`` returns: the class scores, or (families whose module has an ``image_embedding``
# method, the CLIP towers) the L2-normalised image embedding, for passes of a second model (the error study's CLIP).
OUTPUTS = ("logits", "image_embedding")


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    build: Callable[..., Any]  # build(dtype=..., **spec.config) -> flax.linen.Module
    converter: str  # "module:function" of the state-dict converter in converters/, imported lazily


_FAMILIES: dict[str, Family] = {}


def register_family(name: str, build: Callable[..., Any], converter: str) -> None:
    _FAMILIES[name] = Family(name, build, converter)


def family(name: str) -> Family:
    return _FAMILIES[name]


def build_module(spec: zoo.ModelSpec, precision: str = "fp32"):
    """The Flax module of ``spec`` with compute dtype from ``precision`` ('fp32' or 'bf16')."""
    return _FAMILIES[spec.family].build(dtype=PRECISIONS[precision], **spec.config_dict())


def count_params(spec: zoo.ModelSpec) -> int:
    """The parameter count of ``spec``'s module as timm counts it: every parameter, without the batch-norm running
    statistics (``mean``/``var`` of :class:`layers.FrozenBatchNorm`, which PyTorch keeps as buffers).

    Shapes come from ``jax.eval_shape`` of the module's init: nothing is computed or allocated.
    """
    size = spec.data.input_size
    variables = jax.eval_shape(build_module(spec).init, jax.random.PRNGKey(0),
                               jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])
    return sum(int(np.prod(leaf.shape)) for path, leaf in leaves if path[-1].key not in ("mean", "var"))


def normalize(images01: jax.Array, data: zoo.DataConfig) -> jax.Array:
    """(x - mean) / std on [0, 1] images; the model-side half of the data config."""
    mean = jnp.asarray(data.mean, jnp.float32)
    std = jnp.asarray(data.std, jnp.float32)
    return (images01.astype(jnp.float32) - mean) / std


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A registered model with loaded parameters.

    ``apply(params, images01)`` is a pure function of float images in [0, 1], NHWC, of the spec's input size; it
    normalises inside, so views and attacks work in pixel space. It returns float32 outputs of shape
    (batch, num_classes): logits, for every model (see :func:`jaxquba.protocols.model_outputs`); or, where
    ``outputs == 'image_embedding'``, (batch, embed_dim) L2-normalised image features.
    """

    spec: zoo.ModelSpec
    params: Any
    apply: Callable[[Any, jax.Array], jax.Array]
    weights_digest: str
    precision: str = "fp32"
    outputs: str = "logits"


def make_apply(spec: zoo.ModelSpec, precision: str = "fp32", outputs: str = "logits"
               ) -> Callable[[Any, jax.Array], jax.Array]:
    """``apply(params, images01)`` of ``spec`` (see :class:`Classifier`) returning ``outputs`` (:data:`OUTPUTS`)."""
    from jaxquba.errors import UserError
    module = build_module(spec, precision)
    dtype = PRECISIONS[precision]
    if outputs not in OUTPUTS:
        raise UserError(f"unknown outputs {outputs!r}; use one of {OUTPUTS}")
    method = None if outputs == "logits" else outputs
    if method is not None and not hasattr(module, method):
        raise UserError(f"{spec.name} has no {outputs} (family {spec.family}); give a CLIP model (see --list_models)")

    def apply(params, images01):
        x = normalize(images01, spec.data).astype(dtype)
        return module.apply({"params": params}, x, method=method).astype(jnp.float32)

    return apply


def _import_families() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_families()
