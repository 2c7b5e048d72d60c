"""Weather corruptions: snow, frost, fog and spatter, with the reference's constants.

Each has a ``*_with_*`` form that takes the random draws explicitly (snow layer and angle, frost crop, fog's plasma
map, spatter's liquid layer), so tests can feed the reference's draws, and a keyed form that draws them with JAX.
Frost images are read at trace time from the files of the installed ``imagecorruptions`` package (the ``demo``
extra declares it), never shipped here; the package itself is not imported (it needs ``pkg_resources``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.errors import UserError
from jaxquba.views.corruptions import _opencv, _ops
from jaxquba.views.corruptions.blur import motion_blur_at_angle

# loc, scale, zoom, threshold, blur radius, blur sigma, blend
SNOW = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))
FROST = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))  # image weight, frost weight
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")  # the reference draws from 5
FOG = ((1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4))  # strength, wibble decay
# loc, scale, sigma, threshold, intensity (water) or mud sigma, mud?
SPATTER = ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
           (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1))


def snow_with_draws(x: jax.Array, severity: int, noise: jax.Array, angle: jax.Array) -> jax.Array:
    """Snow from a N(loc, scale^2) noise layer of the image's size and a fall angle in degrees.

    The layer is zoomed (scipy linear zoom of a centre crop, kept at its full zoomed size), thresholded, motion
    blurred, rounded to uint8 levels and cropped to the image, then added twice (once rotated 180 degrees) to the
    image brightened towards its luma, as in the reference.
    """
    loc, scale, zoom, threshold, radius, sigma, blend = SNOW[severity - 1]
    h, w = x.shape[:2]
    zoomed_h, zoomed_w = _ops.clipped_zoom_shape(h, zoom)[2], _ops.clipped_zoom_shape(w, zoom)[2]
    layer = _ops.clipped_zoom(noise, float(zoom), (zoomed_h, zoomed_w))
    layer = jnp.clip(jnp.where(layer < threshold, 0.0, layer), 0, 1)
    layer = motion_blur_at_angle(layer, radius, sigma, angle)
    layer = (jnp.round(layer * 255) / 255)[:h, :w, None]
    x = x / 255.0
    x = blend * x + (1 - blend) * jnp.maximum(x, _ops.luma(x) * 1.5 + 0.5)
    return jnp.clip(x + layer + layer[::-1, ::-1], 0, 1) * 255


def snow(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    loc, scale = SNOW[severity - 1][:2]
    noise_key, angle_key = jax.random.split(key)
    noise = loc + scale * jax.random.normal(noise_key, x.shape[:2], x.dtype)
    return snow_with_draws(x, severity, noise, jax.random.uniform(angle_key, (), minval=-135.0, maxval=-45.0))


def frost_folder() -> Path:
    """The ``frost`` folder of the installed ``imagecorruptions`` package, found without importing it."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the frost corruption reads its frost images from the `imagecorruptions` package: "
                        "pip install imagecorruptions==1.1.2 (or jaxquba[demo])")
    return Path(next(iter(spec.submodule_search_locations))) / "frost"


@functools.cache
def frost_layers(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The 5 frost images, RGB uint8, each rescaled for an h x w image as the reference does (cubic, OpenCV),
    stacked into one zero-padded array; and their (height, width) sizes."""
    folder = frost_folder()
    try:
        import cv2  # the reference's decoder and cubic resize; opencv-python comes with imagecorruptions
    except ImportError as e:
        raise UserError(f"the frost corruption resizes its frost images with OpenCV as the reference does: "
                        f"pip install imagecorruptions==1.1.2 (or jaxquba[demo]) ({e})") from None
    layers = []
    for name in FROST_FILES:
        frost = cv2.imread(str(folder / name))
        if frost is None:
            raise UserError(f"cannot read the frost image {folder / name}: reinstall imagecorruptions==1.1.2")
        fh, fw = frost.shape[:2]
        factor = 1.1 * max(1.0, h / fh, w / fw)
        frost = cv2.resize(frost, dsize=(int(np.ceil(fw * factor)), int(np.ceil(fh * factor))),
                           interpolation=cv2.INTER_CUBIC)
        layers.append(frost[..., ::-1])
    sizes = np.array([layer.shape[:2] for layer in layers])
    stacked = np.zeros((len(layers), *sizes.max(0), 3), np.uint8)
    for i, layer in enumerate(layers):
        stacked[i, :layer.shape[0], :layer.shape[1]] = layer
    return stacked, sizes


def frost_with_crop(x: jax.Array, severity: int, index: jax.Array, top: jax.Array, left: jax.Array) -> jax.Array:
    """Blend with the crop of frost image ``index`` (0-4) whose top-left corner is (top, left)."""
    image_weight, frost_weight = FROST[severity - 1]
    h, w = x.shape[:2]
    stacked, _ = frost_layers(h, w)
    crop = jax.lax.dynamic_slice(jnp.asarray(stacked), (index, top, left, 0), (1, h, w, 3))[0]
    return jnp.clip(image_weight * x + frost_weight * crop.astype(x.dtype), 0, 255)


def frost(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    """Frost image ``randint(5)`` at a uniformly random crop position, as the reference draws them."""
    h, w = x.shape[:2]
    sizes = jnp.asarray(frost_layers(h, w)[1])
    index_key, top_key, left_key = jax.random.split(key, 3)
    index = jax.random.randint(index_key, (), 0, len(FROST_FILES))
    top = jax.random.randint(top_key, (), 0, sizes[index, 0] - h)
    left = jax.random.randint(left_key, (), 0, sizes[index, 1] - w)
    return frost_with_crop(x, severity, index, top, left)


def plasma_map_size(h: int, w: int) -> int:
    """The reference's plasma map side: the next power of two of the largest image dimension."""
    return 1 << (max(h, w, 3) - 1).bit_length()


def plasma_fractal(key: jax.Array, size: int, wibble_decay: float) -> jax.Array:
    """Diamond-square height map in [0, 1] (the reference's ``plasma_fractal``), noise drawn from ``key``.

    Each level doubles the grid: square centres, then the two kinds of diamond points, each the mean of its 4
    (periodic) neighbours plus uniform noise of amplitude wibble^2; wibble starts at 100 and is divided by
    ``wibble_decay`` per level. The new points are interleaved by stacking instead of strided writes.
    """
    # All levels' noise in one draw (one PRNG expansion compiles much faster than one per level).
    uniforms = iter(jnp.split(jax.random.uniform(key, (size * size,), minval=-1.0, maxval=1.0),
                              np.cumsum([(1 << (2 * level)) for level in range(size.bit_length() - 1)
                                         for _ in range(3)])))
    corners = jnp.zeros((1, 1), jnp.float32)
    wibble = 100.0
    while corners.shape[0] < size:
        n = corners.shape[0]

        def wibbled_mean(total):
            return total / 4 + wibble * wibble * next(uniforms).reshape(n, n)

        square = corners + jnp.roll(corners, -1, axis=0)
        centres = wibbled_mean(square + jnp.roll(square, -1, axis=1))
        left = wibbled_mean(centres + jnp.roll(centres, 1, axis=0) + corners + jnp.roll(corners, -1, axis=1))
        top = wibbled_mean(centres + jnp.roll(centres, 1, axis=1) + corners + jnp.roll(corners, -1, axis=0))
        even_rows = jnp.stack([corners, left], -1).reshape(n, 2 * n)
        odd_rows = jnp.stack([top, centres], -1).reshape(n, 2 * n)
        corners = jnp.stack([even_rows, odd_rows], 1).reshape(2 * n, 2 * n)
        wibble /= wibble_decay
    heights = corners - corners.min()
    return heights / heights.max()


def fog_with_plasma(x: jax.Array, severity: int, plasma: jax.Array) -> jax.Array:
    """Adds c * plasma (top-left crop of the map) and rescales by max / (max + c), as the reference."""
    strength = FOG[severity - 1][0]
    h, w = x.shape[:2]
    x = x / 255.0
    max_value = x.max()
    x = x + strength * plasma[:h, :w, None].astype(x.dtype)
    return jnp.clip(x * max_value / (max_value + strength), 0, 1) * 255


def fog(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    size = plasma_map_size(*x.shape[:2])
    return fog_with_plasma(x, severity, plasma_fractal(key, size, FOG[severity - 1][1]))


_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def _water_mask(liquid: jax.Array, intensity: float) -> jax.Array:
    """The reference's water pattern: liquid level times a shaded distance-to-blob-edge map, scaled to max 1 x c.

    Its OpenCV steps, each reproduced exactly on integer levels (:mod:`._opencv`): Canny edges (50, 150) of the
    uint8 liquid layer, chamfer distance to them truncated at 20, 3x3 mean truncated to uint8, histogram
    equalisation, emboss filter saturated to uint8, 3x3 mean rounded to uint8.
    """
    level = jnp.floor(liquid * 255).astype(jnp.int32)
    distance = _opencv.chamfer_distance(_opencv.canny(level, 50, 150), 20)
    shade = _opencv.equalize_hist(_opencv.blur3_to_uint8(distance))
    shade = _opencv.blur3_uint8(_opencv.filter3_uint8(shade, _EMBOSS))
    mask = (level * shade).astype(jnp.float32)
    return mask / jnp.maximum(mask.max(), 1e-12) * intensity


def spatter_with_noise(x: jax.Array, severity: int, noise: jax.Array) -> jax.Array:
    """Water (severity 1-3) or mud (4-5) spatter from a N(loc, scale^2) noise layer of the image's size."""
    _, _, sigma, threshold, strength, mud = SPATTER[severity - 1]
    liquid = _ops.gaussian_filter(noise, sigma)
    liquid = jnp.where(liquid < threshold, 0.0, liquid)
    x = x / 255.0
    if mud:
        mask = _ops.gaussian_filter((liquid > threshold).astype(x.dtype), strength)
        mask = jnp.where(mask < 0.8, 0.0, mask)[..., None]
        color = jnp.asarray([63, 42, 20], x.dtype) / 255.0
        return jnp.clip(x * (1 - mask) + color * mask, 0, 1) * 255
    color = jnp.asarray([175, 238, 238], x.dtype) / 255.0
    return jnp.clip(x + _water_mask(liquid, strength)[..., None] * color, 0, 1) * 255


def spatter(x: jax.Array, severity: int, key: jax.Array) -> jax.Array:
    loc, scale = SPATTER[severity - 1][:2]
    return spatter_with_noise(x, severity, loc + scale * jax.random.normal(key, x.shape[:2], x.dtype))
