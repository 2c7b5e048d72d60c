"""The `imagecorruptions` reference (1.1.2) made importable on numpy 2 / scikit-image >= 0.19, for tests and benchmarks.

Three of its corruptions break on current libraries: ``np.float_`` is gone (fog) and skimage's ``gaussian`` no longer
takes ``multichannel`` (glass_blur, gaussian_blur). :func:`reference` applies the small shim from
``shared/docs/ENVIRONMENT.md`` §5 once and returns the patched module; the library code itself never imports it.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxquba.views.corruptions import blur, digital, weather


@functools.cache
def reference():
    """The patched ``imagecorruptions`` package (``corrupt``, ``get_corruption_names``, ``corruptions``)."""
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    import imagecorruptions
    import imagecorruptions.corruptions as module

    original_gaussian = module.gaussian

    def gaussian(image, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return original_gaussian(image, *args, **kwargs)

    module.gaussian = gaussian
    return imagecorruptions


def reference_corrupt(name: str, severity: int, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The reference's ``corrupt`` on each image of a uint8 batch, numpy's global RNG seeded once."""
    ref = reference()
    np.random.seed(seed)
    return np.stack([ref.corrupt(image, severity, name) for image in images])


def jax_corrupt(name: str, severity: int, images: np.ndarray, seed: int = 0, batch: int = 25) -> np.ndarray:
    """jaxquba's corruption on a uint8 batch, in jitted chunks, keys from (seed, example index) as the views do."""
    import jax
    import jax.numpy as jnp

    fn = _jitted_corrupt()
    base = jax.random.key(seed)
    out = []
    for start in range(0, len(images), batch):
        ids = jnp.arange(start, min(start + batch, len(images)), dtype=jnp.uint32)
        keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)
        out.append(np.asarray(fn(jnp.asarray(images[start:start + batch]), name, severity, keys)))
    return np.concatenate(out)


@functools.cache
def _jitted_corrupt():
    import jax

    from jaxquba.views.corruptions import corrupt
    return jax.jit(corrupt, static_argnums=(1, 2))


def reference_draws(name: str, severity: int, shape: tuple[int, int], seed: int) -> tuple:
    """Replays the reference's numpy draws for one call seeded with ``seed`` (same calls, same order)."""
    h, w = shape
    rc = reference().corruptions
    np.random.seed(seed)
    if name == "motion_blur":
        return (np.random.uniform(-45, 45),)
    if name == "fog":
        return (rc.plasma_fractal(weather.plasma_map_size(h, w), weather.FOG[severity - 1][1]),)
    if name == "elastic_transform":
        m = digital.elastic_max_shift(h)
        return np.random.uniform(-m, m, (h, w)), np.random.uniform(-m, m, (h, w))
    if name == "snow":
        loc, scale = weather.SNOW[severity - 1][:2]
        return np.random.normal(size=(h, w), loc=loc, scale=scale), np.random.uniform(-135, -45)
    if name == "glass_blur":
        _, max_shift, iterations = blur.GLASS[severity - 1]
        # The reference draws randint(-d, d, size=(2,)) per visited pixel; one call of the whole size draws the
        # same numbers from the legacy generator (checked by the reference-output match itself).
        visited = (h - 2 * max_shift) * (w - 2 * max_shift)
        return (np.random.randint(-max_shift, max_shift, size=(iterations, visited, 2)),)
    if name == "spatter":
        loc, scale = weather.SPATTER[severity - 1][:2]
        return (np.random.normal(size=(h, w), loc=loc, scale=scale),)
    if name == "frost":
        sizes = weather.frost_layers(h, w)[1]
        index = np.random.randint(5)
        return index, np.random.randint(0, sizes[index, 0] - h), np.random.randint(0, sizes[index, 1] - w)
    raise AssertionError(name)


# The random corruptions whose JAX version can take the reference's draws instead of drawing its own.
WITH_DRAWS = {"motion_blur": blur.motion_blur_with_angle, "glass_blur": blur.glass_blur_with_offsets,
              "fog": weather.fog_with_plasma, "elastic_transform": digital.elastic_with_field,
              "snow": weather.snow_with_draws, "frost": weather.frost_with_crop,
              "spatter": weather.spatter_with_noise}


def reference_with_draws(name: str, severity: int, images: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """The reference's corruption of each image, numpy's RNG seeded with the image's index, and the draws it made
    (replayed by :func:`reference_draws`), so that jaxquba can be given the same randomness."""
    from PIL import Image

    ref = reference()
    expected, draws = [], []
    for i, image in enumerate(images):
        np.random.seed(i)
        expected.append(np.uint8(getattr(ref.corruptions, name)(Image.fromarray(image), severity)))
        draws.append(reference_draws(name, severity, image.shape[:2], i))
    return np.stack(expected), draws


def with_draws_corrupt(name: str, severity: int, images: np.ndarray, draws: list[tuple],
                       batch: int = 25) -> np.ndarray:
    """jaxquba's corruption of a uint8 batch given the reference's per-image draws, as uint8 (floor, as np.uint8)."""
    import jax.numpy as jnp

    fn, out = _jitted_with_draws(name, severity), []
    for start in range(0, len(images), batch):
        chunk = draws[start:start + batch]
        stacked = [jnp.asarray(np.stack(d), jnp.float32 if np.asarray(d[0]).dtype.kind == "f" else jnp.int32)
                   for d in zip(*chunk)]
        ours = fn(jnp.asarray(images[start:start + batch], jnp.float32), *stacked)
        out.append(np.floor(np.clip(np.asarray(ours), 0, 255)).astype(np.uint8))
    return np.concatenate(out)


@functools.cache
def _jitted_with_draws(name: str, severity: int):
    import jax

    fn = WITH_DRAWS[name]
    return jax.jit(jax.vmap(lambda x, *d: fn(x, severity, *d)))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def noise_statistics(clean: np.ndarray, corrupted: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image statistics of what a corruption adds: mean and std of (corrupted - clean), and the fraction of
    output values clipped to 0 or 255."""
    noise = corrupted.astype(np.float64) - clean.astype(np.float64)
    axes = tuple(range(1, noise.ndim))
    return {"mean": noise.mean(axes), "std": noise.std(axes),
            "clipped": ((corrupted == 0) | (corrupted == 255)).mean(axes)}


def top1_correct(classifier, images: np.ndarray, labels: np.ndarray, batch: int = 50) -> np.ndarray:
    """Per-image top-1 correctness of a jaxquba Classifier on uint8 images fed as they are (224 px)."""
    import jax
    import jax.numpy as jnp

    apply = jax.jit(classifier.apply)
    hits = []
    for start in range(0, len(images), batch):
        x = jnp.asarray(images[start:start + batch], jnp.float32) / 255
        hits.append(np.asarray(apply(classifier.params, x).argmax(-1)) == labels[start:start + batch])
    return np.concatenate(hits)
