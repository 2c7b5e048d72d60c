"""Adversarial attacks as views: FGSM and L-infinity PGD, untargeted, on the model's cross-entropy.

The attacks follow torchattacks 3.5.1 (QUBA, P1.3) and foolbox 3's ``LinfPGD`` (generalization study, P2.2), which
agree on every arithmetic step: a sign-gradient step, projection onto the epsilon ball around the clean input
(``x0 + clip(x - x0, -eps, eps)``), then a clamp to [0, 1]; PGD starts from ``clip(x0 + U(-eps, eps), 0, 1)``.

Two attack spaces (``space``):

* ``pixel``: the attack variable is the image in [0, 1]; normalisation stays inside the model. The study's PGD-40
  (:func:`pgd40_generalization`) is this space with epsilon 0.5/255, step 2/255, 40 steps.
* ``normalized``: QUBA's QUIRK (P1.3), the attack space of the ``quba_paper`` protocol. The attack variable is the
  *normalised* tensor x~ = (x - mean) / std, epsilon and step are in normalised units and the [0, 1] clamp applies
  to x~ (so every below-mean value becomes the mean colour). The view returns the pixel image x = x~ * std + mean,
  which the engine feeds to the model unchanged; the model's own normalisation then recovers x~ up to float32
  rounding (about 1e-7).

The loss is the cross-entropy of ``ctx.logits_fn``'s outputs, summed over the batch, so each example's gradient (and
therefore its adversarial image) does not depend on the batch it shares; torchattacks' batch mean has the same
gradient signs. For probability-output models (``ModelSpec.output == 'probs'``) the engine's ``logits_fn`` is
:func:`jaxquba.protocols.model_outputs`: softmax probabilities under ``quba_paper`` (so the cross-entropy is applied
to probabilities as if they were logits, QUBA's QUIRK) and the logits under ``pixel``; the attacks take it as given.

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

SPACES = ("pixel", "normalized")  # the values of jaxquba.protocols.Protocol.attack_space

LogitsFn = Callable[[jax.Array], jax.Array]


def cross_entropy_sum(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Summed softmax cross-entropy of ``outputs`` (used as logits) against integer ``labels``."""
    log_probs = jax.nn.log_softmax(outputs.astype(jnp.float32), axis=-1)
    return -jnp.sum(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1))


def _space_maps(space: str, mean, std):
    """(to_attack, to_pixels): the maps between pixel images and the attack variable of ``space``."""
    if space == "pixel":
        return (lambda x: x), (lambda z: z)
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return (lambda x: (x - mean) / std), (lambda z: z * std + mean)


def _loss_fn(logits_fn: LogitsFn, labels: jax.Array, to_pixels):
    return lambda z: cross_entropy_sum(logits_fn(to_pixels(z)), labels)


def fgsm(images01: jax.Array, labels: jax.Array, logits_fn: LogitsFn, *, eps: float, space: str = "pixel",
         mean=None, std=None) -> jax.Array:
    """FGSM: ``clip(z + eps * sign(grad_z CE), 0, 1)`` in the attack space; returns pixel images.

    ``eps`` is a fraction of the unit range of the attack space (8/255, not 8).
    """
    to_attack, to_pixels = _space_maps(space, mean, std)
    z0 = to_attack(images01.astype(jnp.float32))
    grad = jax.grad(_loss_fn(logits_fn, labels, to_pixels))(z0)
    return to_pixels(jnp.clip(z0 + jnp.float32(eps) * jnp.sign(grad), 0.0, 1.0))


def pgd(images01: jax.Array, labels: jax.Array, logits_fn: LogitsFn, *, eps: float, step: float, steps: int,
        start_delta: jax.Array | None, space: str = "pixel", mean=None, std=None) -> jax.Array:
    """L-infinity PGD in the attack space; returns pixel images.

    ``eps`` and ``step`` are fractions of the attack space's unit range. ``start_delta`` is the random start in
    attack units, already drawn from U(-eps, eps) with the images' shape (None: start at the clean input).
    Each step: ``z += step * sign(grad)``, ``z = clip(z0 + clip(z - z0, -eps, eps), 0, 1)``.
    """
    to_attack, to_pixels = _space_maps(space, mean, std)
    grad_fn = jax.grad(_loss_fn(logits_fn, labels, to_pixels))
    eps, step = jnp.float32(eps), jnp.float32(step)
    z0 = to_attack(images01.astype(jnp.float32))
    z = z0 if start_delta is None else jnp.clip(z0 + start_delta.astype(jnp.float32), 0.0, 1.0)

    def body(_, z):
        stepped = z + step * jnp.sign(grad_fn(z))
        return jnp.clip(z0 + jnp.clip(stepped - z0, -eps, eps), 0.0, 1.0)

    return to_pixels(jax.lax.fori_loop(0, steps, body, z))


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
        return fgsm(images01, ctx.labels, ctx.logits_fn, eps=eps / 255, space=space, mean=ctx.mean, std=ctx.std)

    return View(name, fn, cost=2.0, needs_model=True)


def pgd_view(eps: float = 8, step: float = 2, steps: int = 10, space: str = "pixel") -> View:
    """L-inf PGD view with a random start; ``eps`` and ``step`` in 0-255 units of the attack space.

    The start is U(-eps, eps) per pixel from :func:`example_keys`, so it is fixed by (seed, view name, example id).
    """
    _check(space, eps, steps, step)
    name = spec_name("pgd", eps=float(eps), step=float(step), steps=int(steps), space=space)

    def fn(images01, ctx: ViewContext):
        keys = example_keys(ctx, name)
        unit = jax.vmap(lambda k: jax.random.uniform(k, images01.shape[1:], jnp.float32, -1.0, 1.0))(keys)
        return pgd(images01, ctx.labels, ctx.logits_fn, eps=eps / 255, step=step / 255, steps=steps,
                   start_delta=unit * jnp.float32(eps / 255), space=space, mean=ctx.mean, std=ctx.std)

    return View(name, fn, cost=2.0 * steps, needs_model=True)


def quba_attack_views() -> tuple[View, View]:
    """QUBA's two attacks (P1.3): torchattacks PGD-10 (8/255, step 2/255) and FGSM (8/255), ``normalized`` space."""
    return pgd_view(8, 2, 10, "normalized"), fgsm_view(8, "normalized")


def pgd40_generalization() -> View:
    """The generalization study's PGD-40 (P2.2): foolbox LinfPGD, eps 0.5/255, step 2/255, 40 steps, pixel space."""
    return pgd_view(0.5, 2, 40, "pixel")


registry.register("fgsm", fgsm_view)
registry.register("pgd", pgd_view)
