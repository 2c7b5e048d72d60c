"""Noise corruptions (gaussian, shot, impulse, speckle): per-pixel random draws from the example's JAX key.

Each function maps one image in the 0-255 float scale to its corrupted version in the same scale, with the
reference's constants (``imagecorruptions`` 1.1.2); the reference's numpy draws are replaced by JAX draws of the
same distributions, so parity is in distribution, not pixel for pixel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.views.corruptions import _random

GAUSSIAN_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_PHOTONS = (60, 25, 12, 5, 3)
IMPULSE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)
SPECKLE_STD = (0.15, 0.2, 0.35, 0.45, 0.6)


def gaussian_noise(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Additive N(0, c^2) noise on [0, 1] intensities."""
    x = x / 255.0
    noise = GAUSSIAN_STD[severity - 1] * jax.random.normal(key, x.shape, x.dtype)
    return jnp.clip(x + noise, 0, 1) * 255


def poisson_inverse_cdf(key: jax.Array, rate: jax.Array, max_rate: float) -> jax.Array:
    """Poisson(rate) draws by inverting the CDF with one uniform per value, for rates <= ``max_rate``.

    A fixed number of vectorised terms (max_rate + 10 sqrt(max_rate) + 10; the mass beyond is < 1e-20) replaces
    ``jax.random.poisson``'s rejection loop, which is ~30x slower on CPU for these small rates. The terms are
    unrolled, so XLA computes them in one pass over the image instead of writing three image-sized arrays per term.
    """
    u = _random.uniform(key, rate.shape, rate.dtype)
    terms = int(np.ceil(max_rate + 10 * np.sqrt(max_rate) + 10))

    def add_term(k, state):
        pmf, cdf, count = state
        pmf = pmf * rate / k
        return pmf, cdf + pmf, count + (u > cdf + pmf)

    pmf0 = jnp.exp(-rate)
    _, _, count = jax.lax.fori_loop(1, terms, add_term, (pmf0, pmf0, (u > pmf0).astype(rate.dtype)), unroll=True)
    return count


def shot_noise(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Poisson photon noise: Poisson(c x) / c on [0, 1] intensities."""
    photons = SHOT_PHOTONS[severity - 1]
    counts = poisson_inverse_cdf(key, x / 255.0 * photons, photons)
    return jnp.clip(counts / photons, 0, 1) * 255


def impulse_noise(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Salt and pepper (skimage ``random_noise(mode='s&p')``): each value flips with probability c, half to 1."""
    # One 32-bit draw per value decides both (a value below c * 2^32 flips; the lower half of that range is salt):
    # half the random bits of two Bernoulli draws, and random bits are most of the cost on CPU.
    bits = _random.bits32(key, x.shape)
    flip_below = int(round(IMPULSE_AMOUNT[severity - 1] * 2 ** 32))
    return jnp.where(bits < flip_below // 2, 255.0, jnp.where(bits < flip_below, 0.0, x)).astype(x.dtype)


def speckle_noise(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Multiplicative noise x + x N(0, c^2) on [0, 1] intensities."""
    x = x / 255.0
    noise = SPECKLE_STD[severity - 1] * jax.random.normal(key, x.shape, x.dtype)
    return jnp.clip(x + x * noise, 0, 1) * 255
