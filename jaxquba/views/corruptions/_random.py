"""``jax.random.bits`` and ``jax.random.uniform`` for 32-bit draws, bit for bit, with the Threefry hash unrolled.

On CPU jax lowers its Threefry-2x32 hash as a rolled loop of 5 iterations whose rotation amounts are loop data, so
XLA materialises both 32-bit words of every value once per iteration: drawing a (224, 224, 3) image of uniforms
costs more than the noise corruptions' own arithmetic. Here the same hash is written out with constant rotations,
which XLA fuses into the consumer's loop (jax itself lowers it this way on every other platform). The counters and
the output words are those of jax's ``threefry_partitionable`` bits (the default since jax 0.5), so the values are
identical to ``jax.random``'s; any other configuration (the original Threefry layout, another PRNG implementation)
falls back to ``jax.random`` itself. ``tests/test_corruptions.py`` checks the equality.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: jax.Array, bits: int) -> jax.Array:
    return (x << np.uint32(bits)) | (x >> np.uint32(32 - bits))


def threefry2x32(key1: jax.Array, key2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 hash (20 rounds) of the counter pair (x1, x2) under the key (key1, key2): jax's
    ``threefry2x32_p``, unrolled."""
    keys = (key1, key2, key1 ^ key2 ^ _KEY_PARITY)
    x = [x1 + keys[0], x2 + keys[1]]
    for block in range(5):
        for rotation in _ROTATIONS[block % 2]:
            x[0] = x[0] + x[1]
            x[1] = x[0] ^ _rotate_left(x[1], rotation)
        x = [x[0] + keys[(block + 1) % 3], x[1] + keys[(block + 2) % 3] + np.uint32(block + 1)]
    return x[0], x[1]


def _fast_path(key: jax.Array, shape: tuple[int, ...]) -> bool:
    """Whether ``key`` draws with partitionable Threefry-2x32, for which :func:`bits32` is exact."""
    return (jax.config.jax_threefry_partitionable and str(jax.random.key_impl(key)) == "threefry2x32"
            and math.prod(shape) < 2 ** 32 and len(shape) > 0)


def bits32(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``jax.random.bits(key, shape, jnp.uint32)`` for one typed key."""
    if not _fast_path(key, shape):
        return jax.random.bits(key, shape, jnp.uint32)
    data = jax.random.key_data(key)
    # jax's counters: the row-major index of each value as a 64-bit pair (high word 0 below 2^32 values)
    index = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
    high, low = threefry2x32(data[0], data[1], jnp.zeros_like(index), index)
    return high ^ low


def uniform(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32, minval: float = 0.0,
            maxval: float = 1.0) -> jax.Array:
    """``jax.random.uniform(key, shape, float32, minval, maxval)`` for one typed key: the high 23 bits as the
    mantissa of a float in [1, 2), minus 1, scaled, floored at ``minval`` (jax's arithmetic, step by step)."""
    if dtype != jnp.float32 or not _fast_path(key, shape):
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    mantissa = bits32(key, shape) >> np.uint32(32 - 23)
    floats = jax.lax.bitcast_convert_type(mantissa | np.float32(1.0).view(np.uint32), jnp.float32) - np.float32(1.0)
    low, high = np.float32(minval), np.float32(maxval)
    return jnp.maximum(low, floats * (high - low) + low)
