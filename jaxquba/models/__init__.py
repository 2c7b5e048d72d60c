"""Flax model families and the classifier function every evaluation runs.

A family module (``resnet.py``, ``vit.py``, ...) defines Flax ``linen`` modules, calls :func:`register_family` with a
builder, and registers its named models with :func:`jaxquba.zoo.register`. Importing this package imports every
family module, so the registry is complete after ``import jaxquba.models``. Families never import the converters:
a family names its converter as a string, and :mod:`jaxquba.loader`, the layer above both, joins them.

Conventions shared by all families:
  * A family module maps its **network input** to logits: by default the normalised NHWC image ``(x - mean) / std``
    (3 channels). A family whose reference transform hands the network something else says so when it registers
    (``normalizes_inside``: RobustBench's wrappers, which read the image; ``input_encoding``: B-cos, which reads
    ``[x, 1 - x]``); :func:`network_input` builds that tensor, and views still see the image (docs/ARCHITECTURE.md,
    "What a model's input is").
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
    """A model family: how to build its module, where its converter is, and what its module reads.

    ``normalizes_inside``: the reference model normalises inside its own wrapper (RobustBench's ``Sequential(
    normalize, model)``), so its transform hands the network the image in [0, 1]: the network input is the image, and
    the module still gets ``(x - mean) / std`` from :func:`make_apply_network_input`.
    ``input_encoding``: maps the normalised image to what the network reads where that is not the image itself
    (B-cos: ``[x, 1 - x]``, six channels); the module is built for the encoded input.
    """

    name: str
    build: Callable[..., Any]  # build(dtype=..., **spec.config) -> flax.linen.Module
    converter: str  # "module:function" of the state-dict converter in converters/, imported lazily
    normalizes_inside: bool = False
    input_encoding: Callable[[jax.Array], jax.Array] | None = None


_FAMILIES: dict[str, Family] = {}


def register_family(name: str, build: Callable[..., Any], converter: str, *, normalizes_inside: bool = False,
                    input_encoding: Callable[[jax.Array], jax.Array] | None = None) -> None:
    _FAMILIES[name] = Family(name, build, converter, normalizes_inside, input_encoding)


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
    variables = jax.eval_shape(build_module(spec).init, jax.random.PRNGKey(0), module_input_shape(spec))
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])
    return sum(int(np.prod(leaf.shape)) for path, leaf in leaves if path[-1].key not in ("mean", "var"))


def normalize(images01: jax.Array, data: zoo.DataConfig) -> jax.Array:
    """(x - mean) / std on [0, 1] images; the model-side half of the data config."""
    mean = jnp.asarray(data.mean, jnp.float32)
    std = jnp.asarray(data.std, jnp.float32)
    return (images01.astype(jnp.float32) - mean) / std


def network_input(images01: jax.Array, spec: zoo.ModelSpec) -> jax.Array:
    """The tensor ``spec``'s reference transform hands its network, from [0, 1] images (NHWC, 3 channels).

    Usually the normalised image ``(x - mean) / std``; the image itself where the reference wrapper normalises
    inside (``Family.normalizes_inside``); the family's encoding of the normalised image where it has one
    (``Family.input_encoding``, B-cos). The ``quba_paper`` protocol's attacks perturb this tensor (PROTOCOLS.md P1.3).
    """
    fam = _FAMILIES[spec.family]
    x = images01.astype(jnp.float32) if fam.normalizes_inside else normalize(images01, spec.data)
    return x if fam.input_encoding is None else fam.input_encoding(x)


def module_input_shape(spec: zoo.ModelSpec, batch: int = 1) -> jax.ShapeDtypeStruct:
    """The shape of what ``spec``'s module reads (its channels come from the family's encoding)."""
    size = spec.data.input_size
    return jax.eval_shape(lambda x: network_input(x, spec), jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32))


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A registered model with loaded parameters.

    ``apply(params, images01)`` is a pure function of float images in [0, 1], NHWC, of the spec's input size; it
    builds the network input inside (:func:`network_input`), so views work on the image. It returns float32 outputs of
    shape (batch, num_classes): logits, for every model (see :func:`jaxquba.protocols.model_outputs`); or, where
    ``outputs == 'image_embedding'``, (batch, embed_dim) L2-normalised image features.

    ``to_network_input`` and ``apply_network_input`` split ``apply`` at the network input, for the attacks that
    perturb it (the ``quba_paper`` protocol): ``apply(p, x) == apply_network_input(p, to_network_input(x))``. A
    classifier made around a plain ``apply`` (a stand-in, a user's function) leaves them None: its network input is
    the image.
    """

    spec: zoo.ModelSpec
    params: Any
    apply: Callable[[Any, jax.Array], jax.Array]
    weights_digest: str
    precision: str = "fp32"
    outputs: str = "logits"
    to_network_input: Callable[[jax.Array], jax.Array] | None = None
    apply_network_input: Callable[[Any, jax.Array], jax.Array] | None = None

    def network_input_fns(self) -> tuple[Callable[[jax.Array], jax.Array], Callable[[Any, jax.Array], jax.Array]]:
        """``(to_network_input, apply_network_input)``; the identity and ``apply`` where the classifier has none."""
        if self.to_network_input is None or self.apply_network_input is None:
            return (lambda images01: images01), self.apply
        return self.to_network_input, self.apply_network_input


def make_apply_network_input(spec: zoo.ModelSpec, precision: str = "fp32", outputs: str = "logits"
                             ) -> Callable[[Any, jax.Array], jax.Array]:
    """``apply_network_input(params, network_input)`` of ``spec`` (see :class:`Classifier`) returning ``outputs``
    (:data:`OUTPUTS`)."""
    from jaxquba.errors import UserError
    module = build_module(spec, precision)
    dtype = PRECISIONS[precision]
    if outputs not in OUTPUTS:
        raise UserError(f"unknown outputs {outputs!r}; use one of {OUTPUTS}")
    method = None if outputs == "logits" else outputs
    if method is not None and not hasattr(module, method):
        raise UserError(f"{spec.name} has no {outputs} (family {spec.family}); give a CLIP model (see --list_models)")
    normalizes_inside = _FAMILIES[spec.family].normalizes_inside

    def apply_network_input(params, inputs):
        x = normalize(inputs, spec.data) if normalizes_inside else inputs
        return module.apply({"params": params}, x.astype(dtype), method=method).astype(jnp.float32)

    return apply_network_input


def make_network_fns(spec: zoo.ModelSpec, precision: str = "fp32", outputs: str = "logits"
                     ) -> tuple[Callable[[Any, jax.Array], jax.Array], Callable[[jax.Array], jax.Array],
                                Callable[[Any, jax.Array], jax.Array]]:
    """``(apply, to_network_input, apply_network_input)`` of ``spec``, the three functions of a :class:`Classifier`
    returning ``outputs`` (:data:`OUTPUTS`)."""
    apply_network_input = make_apply_network_input(spec, precision, outputs)

    def to_network_input(images01):
        return network_input(images01, spec)

    def apply(params, images01):
        return apply_network_input(params, to_network_input(images01))

    program = {"family": spec.family, "config": repr(spec.config), "mean": list(spec.data.mean),
               "std": list(spec.data.std), "normalizes_inside": _FAMILIES[spec.family].normalizes_inside,
               "output": spec.output, "precision": precision, "outputs": outputs}
    for fn in (apply, to_network_input, apply_network_input):
        fn.program = program
    return apply, to_network_input, apply_network_input


def make_apply(spec: zoo.ModelSpec, precision: str = "fp32", outputs: str = "logits"
               ) -> Callable[[Any, jax.Array], jax.Array]:
    """``apply(params, images01)`` of ``spec`` (see :class:`Classifier`) returning ``outputs`` (:data:`OUTPUTS`)."""
    return make_network_fns(spec, precision, outputs)[0]


def program_identity(classifier: Classifier) -> dict[str, Any] | None:
    """What ``classifier``'s functions compute, apart from the parameters' values (which are their arguments): the
    family and config, the normalisation and where it happens, the peer's output kind, the precision and the
    outputs. Two classifiers with the same identity run the same programs, so checkpoints of one architecture can
    share compiled steps (:mod:`jaxquba.engine.executable_cache`). None where ``apply``, ``to_network_input`` and
    ``apply_network_input`` were not made together by :func:`make_network_fns` (a stand-in, a user's function):
    then nothing but the functions themselves says what they compute."""
    program = getattr(classifier.apply, "program", None)
    made_together = all(getattr(fn, "program", None) is program
                        for fn in (classifier.to_network_input, classifier.apply_network_input))
    return program if program is not None and made_together else None


def _import_families() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_families()
