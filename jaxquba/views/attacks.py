"""Adversarial attacks as views: FGSM and L-infinity PGD, untargeted, on the model's cross-entropy.

The attacks follow torchattacks 3.5.1 (QUBA, P1.3) and foolbox 3's ``LinfPGD`` (generalization study, P2.2), which
agree on every arithmetic step: a sign-gradient step, projection onto the epsilon ball around the clean input
(``x0 + clip(x - x0, -eps, eps)``), then a clamp to [0, 1]; PGD starts from ``clip(x0 + U(-eps, eps), 0, 1)``.

Two attack spaces (``space``):

* ``pixel``: the attack variable is the image in [0, 1]; the model builds its input from it. The study's PGD-40
  (:func:`pgd40_generalization`) is this space with epsilon 0.5/255, step 2/255, 40 steps.
* ``network_input``: QUBA's QUIRK (P1.3), the attack space of the ``quba_paper`` protocol. The attack variable is the
  tensor the model's own transform produces (``ctx.to_network_input``, :func:`jaxquba.models.network_input`): for most
  models the normalised tensor ``(x - mean) / std``, so epsilon and step are in normalised units and the [0, 1]
  clamp applies to it (every below-mean value becomes the mean colour); the image for RobustBench's models, whose
  wrappers normalise inside; the six channels ``[x, 1 - x]`` for B-cos, perturbed independently. The view returns
  that network input (``View.returns_network_input``) and the engine evaluates it with
  ``ctx.network_input_logits_fn``.

The loss is the cross-entropy of the model's outputs on the attack variable, summed over the batch, so each
example's gradient (and therefore its adversarial input) does not depend on the batch it shares; torchattacks' batch
mean has the same gradient signs. For probability-output models (``ModelSpec.output == 'probs'``) the engine's model
functions come from :func:`jaxquba.protocols.model_outputs`: softmax probabilities under ``quba_paper`` (so the
cross-entropy is applied to probabilities as if they were logits, QUBA's QUIRK) and the logits under ``pixel``; the
attacks take them as given.

Cost accounting (``View.cost``, forward-equivalents per image): every gradient step is one forward and one backward
pass, counted 1 + 1 as the view contract does, so FGSM costs 2 and PGD-k costs 2k. The random start is free, and the
engine's evaluation of the returned image is not the view's cost.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxquba.errors import UserError
from jaxquba.views import registry
from jaxquba.views.base import View, ViewContext, example_keys, spec_name

SPACES = ("pixel", "network_input")  # the values of jaxquba.protocols.Protocol.attack_space

OutputsFn = Callable[[jax.Array], jax.Array]  # the model (params bound) on an attack variable


def cross_entropy_sum(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Summed softmax cross-entropy of ``outputs`` (used as logits) against integer ``labels``."""
    log_probs = jax.nn.log_softmax(outputs.astype(jnp.float32), axis=-1)
    return -jnp.sum(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1))


def _loss_fn(outputs_fn: OutputsFn, labels: jax.Array):
    return lambda x: cross_entropy_sum(outputs_fn(x), labels)


def fgsm(x0: jax.Array, labels: jax.Array, outputs_fn: OutputsFn, *, eps: float) -> jax.Array:
    """FGSM: ``clip(x0 + eps * sign(grad_x CE(outputs_fn(x0), labels)), 0, 1)``, on whatever tensor the attack
    variable is (an image, or a network input). ``eps`` is a fraction of the unit range (8/255, not 8)."""
    x0 = x0.astype(jnp.float32)
    grad = jax.grad(_loss_fn(outputs_fn, labels))(x0)
    return jnp.clip(x0 + jnp.float32(eps) * jnp.sign(grad), 0.0, 1.0)


def pgd(x0: jax.Array, labels: jax.Array, outputs_fn: OutputsFn, *, eps: float, step: float, steps: int,
        start_delta: jax.Array | None) -> jax.Array:
    """L-infinity PGD on the attack variable ``x0`` (an image, or a network input).

    ``eps`` and ``step`` are fractions of the unit range. ``start_delta`` is the random start, already drawn from
    U(-eps, eps) with ``x0``'s shape (None: start at ``x0``).
    Each step: ``x += step * sign(grad)``, ``x = clip(x0 + clip(x - x0, -eps, eps), 0, 1)``.
    """
    grad_fn = jax.grad(_loss_fn(outputs_fn, labels))
    eps, step = jnp.float32(eps), jnp.float32(step)
    x0 = x0.astype(jnp.float32)
    x = x0 if start_delta is None else jnp.clip(x0 + start_delta.astype(jnp.float32), 0.0, 1.0)

    def body(_, x):
        stepped = x + step * jnp.sign(grad_fn(x))
        return jnp.clip(x0 + jnp.clip(stepped - x0, -eps, eps), 0.0, 1.0)

    return jax.lax.fori_loop(0, steps, body, x)


def attack_variable(space: str, images01: jax.Array, ctx: ViewContext) -> tuple[jax.Array, OutputsFn]:
    """(the clean attack variable, the model on it) for ``space``: the image and ``ctx.logits_fn``, or the model
    input and ``ctx.network_input_logits_fn``."""
    if space == "pixel":
        return images01, ctx.logits_fn
    return ctx.to_network_input(images01), ctx.network_input_logits_fn


def _check(space: str, eps: float, steps: int = 1, step: float = 1.0) -> None:
    if space not in SPACES:
        raise UserError(f"unknown attack space {space!r}; use one of {', '.join(SPACES)}")
    if eps < 0 or step <= 0 or steps < 1:
        raise UserError(f"attack needs eps >= 0, step > 0 and steps >= 1 (got eps={eps}, step={step}, steps={steps})")


def fgsm_view(eps: float = 8, space: str = "pixel") -> View:
    """FGSM view; ``eps`` in 0-255 units of the attack space, e.g. ``fgsm(eps=8,space=pixel)``."""
    _check(space, eps)
    name = spec_name("fgsm", eps=float(eps), space=space)

    def fn(images01, ctx: ViewContext):
        x0, outputs_fn = attack_variable(space, images01, ctx)
        return fgsm(x0, ctx.labels, outputs_fn, eps=eps / 255)

    return View(name, fn, cost=2.0, needs_model=True, returns_network_input=space == "network_input")


def pgd_view(eps: float = 8, step: float = 2, steps: int = 10, space: str = "pixel") -> View:
    """L-inf PGD view with a random start; ``eps`` and ``step`` in 0-255 units of the attack space.

    The start is U(-eps, eps) per element of the attack variable from :func:`example_keys`, so it is fixed by (seed,
    view name, example id).
    """
    _check(space, eps, steps, step)
    name = spec_name("pgd", eps=float(eps), step=float(step), steps=int(steps), space=space)

    def fn(images01, ctx: ViewContext):
        x0, outputs_fn = attack_variable(space, images01, ctx)
        keys = example_keys(ctx, name)
        unit = jax.vmap(lambda k: jax.random.uniform(k, x0.shape[1:], jnp.float32, -1.0, 1.0))(keys)
        return pgd(x0, ctx.labels, outputs_fn, eps=eps / 255, step=step / 255, steps=steps,
                   start_delta=unit * jnp.float32(eps / 255))

    return View(name, fn, cost=2.0 * steps, needs_model=True, returns_network_input=space == "network_input")


def quba_attack_views() -> tuple[View, View]:
    """QUBA's two attacks (P1.3): torchattacks PGD-10 (8/255, step 2/255) and FGSM (8/255), ``network_input`` space."""
    return pgd_view(8, 2, 10, "network_input"), fgsm_view(8, "network_input")


def pgd40_generalization() -> View:
    """The generalization study's PGD-40 (P2.2): foolbox LinfPGD, eps 0.5/255, step 2/255, 40 steps, pixel space."""
    return pgd_view(0.5, 2, 40, "pixel")


registry.register("fgsm", fgsm_view)
registry.register("pgd", pgd_view)
