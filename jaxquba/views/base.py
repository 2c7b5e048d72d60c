"""The view contract shared by the engine and every view family.

A :class:`View` turns a batch of float32 images in [0, 1] (NHWC, already resized and cropped on the host) into
another such batch. Views run on the accelerator inside the engine's jitted step, after one host decode of each
image, so N views of an image cost one decode and N forward passes.

Randomness is reproducible per (seed, view, example index): a view derives each example's key with
:func:`example_keys`, never from batch position, so results do not depend on batch size, device count or order.
Attacks get the model through ``ViewContext.logits_fn`` (on the image) or, to perturb the network input as the
``quba_paper`` protocol does, ``ViewContext.to_network_input`` and ``ViewContext.network_input_logits_fn``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class ViewContext(NamedTuple):
    """What a view may use besides the images (all arrays have the batch as leading axis)."""

    example_ids: jax.Array  # int32 (B,): global index of each example in its dataset (padding rows: any value)
    labels: jax.Array  # int32 (B,): the true class (attacks maximise its loss)
    seed: int  # the run's seed (static)
    logits_fn: Callable[[jax.Array], jax.Array]  # images01 (B,H,W,3) -> outputs (B,C); the model, params bound
    # images01 -> the network input (jaxquba.models.network_input), and the model on it, for views that perturb it
    # (None where no such view runs: model-free views never read them).
    to_network_input: Callable[[jax.Array], jax.Array] | None = None
    network_input_logits_fn: Callable[[jax.Array], jax.Array] | None = None


@dataclasses.dataclass(frozen=True)
class View:
    """A named image transform. ``name`` is its canonical spec, e.g. ``corrupt(name=fog,severity=3)``.

    ``fn(images01, ctx) -> images01`` must be a pure, jittable function of the batch.
    ``cost`` is its price in forward-pass equivalents per image (an FGSM step is ~2: one forward, one backward),
    used for planning and the benchmark's accounting.
    ``needs_model``: the view calls ``ctx.logits_fn`` (attacks). The engine runs the model-free views of a step
    through one shared copy of the model (so a step with 75 corruptions compiles the model once, not 75 times).
    ``finish``: a model-free view applied to ``fn``'s output, the same for a family of views (release-style
    ImageNet-C: the JPEG round trip and the model's resize after each corruption); the engine applies it once after
    picking the view, so it is compiled once for the family, not once per view. Calling the view applies both.
    ``returns_network_input``: ``fn`` returns a network input (``ctx.to_network_input``'s kind of tensor, which need not
    be an image: B-cos reads six channels), and the engine evaluates it with ``ctx.network_input_logits_fn``.
    """

    name: str
    fn: Callable[[jax.Array, ViewContext], jax.Array]
    cost: float = 0.0
    needs_model: bool = False
    finish: "View | None" = None
    returns_network_input: bool = False

    def __call__(self, images01: jax.Array, ctx: ViewContext) -> jax.Array:
        out = self.fn(images01, ctx)
        return out if self.finish is None else self.finish(out, ctx)


def spec_name(kind: str, **params: Any) -> str:
    """Canonical view spec: ``kind(k1=v1,k2=v2)`` with sorted keys; ``kind`` alone without params."""
    if not params:
        return kind
    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)
    return f"{kind}(" + ",".join(f"{k}={fmt(v)}" for k, v in sorted(params.items())) + ")"


def _name_salt(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") & 0x7FFFFFFF


def example_keys(ctx: ViewContext, view_name: str) -> jax.Array:
    """One PRNG key per example, a function of (seed, view name, example id) only."""
    base = jax.random.fold_in(jax.random.key(ctx.seed), _name_salt(view_name))
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(ctx.example_ids.astype(jnp.uint32))


CLEAN = View("clean", lambda images01, ctx: images01, cost=0.0)
