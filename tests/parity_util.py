"""JAX-vs-PyTorch parity of a registered model on real images, with a randomly initialised timm reference.

:func:`parity_logits` builds the timm model of a registered spec with ``pretrained=False`` and seed 0, then makes
its random initialisation *informative*: timm initialises many tensors to constants (zero biases, unit norm weights,
1e-6 layer scales, zero-initialised last batch-norm of a residual block, unit running variances), and a converter
that transposed, swapped or dropped one of those would still agree. So every 1-D tensor, every token, position
embedding and relative-position table is redrawn from a seeded generator, with batch-norm running statistics drawn
away from (0, 1) so that folding them wrongly shows. The state dict then goes through the loader's
``convert_state_dict`` (family converter + ``check_conversion``) exactly as a checkpoint file does, and both
networks run on the same real images preprocessed by one transform (timm's eval transform at the model's size, so
only the networks are compared, not the preprocessing).

A family's test is a few lines: :func:`check_timm` (timm reference) or :func:`check_torchvision` (torchvision
reference, for weights only torchvision ships), on a registered name or on a :func:`small_variant` of it.

:func:`assert_parity` checks the issue's criterion: max |logit difference| <= 1e-4 x max |logit| and identical top-5
sets for every image.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from converters import load
from jaxquba import models, zoo

# The criterion. float32 on both sides with the highest matmul precision: differences come only from
# summation order (~1e-6 relative per op, growing with depth), so 1e-4 of the logit range leaves headroom for
# 24-block models while a wrong layer (transposed kernel, missing scale, swapped token) is off by O(1).
RELATIVE_TOLERANCE = 1e-4

# Sample images: spread over the 500 shared ImageNet samples (class indices 0, 2, ..., 998).
SAMPLE_INDICES = (0, 101, 202, 303, 404, 499)


def sample_image_paths(shared_data: Path, count: int) -> list[Path]:
    files = sorted((Path(shared_data) / "imagenet_samples").glob("*.JPEG"))
    return [files[i] for i in SAMPLE_INDICES[:count]]


# Names of per-channel layer scales (DeiT-III/timm, CaiT, XCiT), redrawn with the norm weights.
LAYER_SCALES = ("gamma", "gamma_1", "gamma_2", "gamma1", "gamma2", "gamma3")


def informative_random_state(model, seed: int = 0) -> None:
    """Redraws, in place, the tensors that timm initialises to constants (see the module docstring)."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def draw(shape, low, high):
        return torch.rand(shape, generator=gen) * (high - low) + low

    saved = set(model.state_dict())  # non-persistent buffers (EVA's RoPE table ``rope.pos_embed``) are derived
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point() or name not in saved:
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var":
                t.copy_(draw(t.shape, 0.5, 2.0))
            elif leaf == "running_mean":
                t.copy_(draw(t.shape, -0.5, 0.5))
            elif leaf in ("cls_token", "dist_token", "reg_token", "pos_embed", "relative_position_bias_table",
                          "attention_biases", "class_token", "pos_embedding"):  # the last two: torchvision's ViT
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5)
            elif t.ndim == 1 and leaf in LAYER_SCALES + ("weight",):  # layer scales and norm weights
                # Magnitudes below 1 keep deep residual stacks (ResNet-152: 50 blocks) from growing geometrically
                # under fixed batch-norm statistics; signs vary so a dropped scale cannot hide.
                t.copy_(draw(t.shape, 0.3, 0.8) * torch.sign(draw(t.shape, -1.0, 2.0)))
            elif leaf == "layer_scale" or (leaf in LAYER_SCALES and t.shape[1:] == (1, 1)):
                # torchvision ConvNeXt's (C, 1, 1) layer scale (1e-6) and timm's LayerScale2d gamma (FastViT: 1e-5)
                t.copy_(draw(t.shape, 0.3, 0.8) * torch.sign(draw(t.shape, -1.0, 2.0)))
            elif leaf == "logit_scale":  # Swin-V2's log attention scale, clamped at log(100) = 4.6: some above
                t.copy_(draw(t.shape, 1.0, 5.5))
            elif t.ndim == 1 and leaf in ("bias", "q_bias", "v_bias"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.ndim == 2 and leaf == "weight" and t.shape[0] == t.shape[1] and torch.equal(t, t.T):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.02)  # symmetric (ConViT's identity v): transposable
            elif leaf == "temperature":  # XCiT's per-head attention temperature, initialised to 1
                t.copy_(draw(t.shape, 0.5, 2.0))
            elif leaf == "gating_param":  # ConViT's positional/content mix, initialised to 1 for every head
                t.copy_(torch.randn(t.shape, generator=gen))
            elif t.ndim >= 2 and leaf == "weight":
                # Rows initialised near zero (SwiGLU gates: std 1e-6; small head init scales) would hide a
                # transposed or swapped projection: redraw them at the usual 0.02 scale.
                rows = t.reshape(t.shape[0], -1)
                tiny = rows.std(dim=1) < 1e-4
                if tiny.any():
                    rows[tiny] = torch.randn((int(tiny.sum()), rows.shape[1]), generator=gen) * 0.02


def calibrate_batch_norms(model, images) -> None:
    """Every batch norm's running statistics := the statistics of its input on ``images`` (one pass in train mode,
    with the redrawn scales and shifts kept), for families whose random init shrinks the image signal layer after
    layer: FastViT's default-initialised depthwise convs divide it by ~3 per conv, so with drawn statistics every
    image reaches the head as the same vector (logits equal to 1e-6) and any converter would pass."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average: one batch sets the statistics
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def timm_reference(timm, name: str):
    """The random-init timm model of ``name`` (seed 0; :func:`compare` makes its state informative) and its eval
    transform."""
    import torch

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    data_config = timm.data.resolve_model_data_config(model)
    return model, timm.data.create_transform(**data_config, is_training=False)


def spec_transform(timm, data: zoo.DataConfig):
    """timm's eval transform for a spec's data config (resize, centre crop, normalise), at the model's size."""
    return timm.data.create_transform(input_size=(3, data.input_size, data.input_size), crop_pct=data.crop_pct,
                                      crop_mode=data.crop_mode, interpolation=data.interpolation, mean=data.mean,
                                      std=data.std, is_training=False)


def compare(timm, spec: zoo.ModelSpec, model, shared_data: Path, n_images: int = 2, transform=None,
            precision: str = "fp32", calibrate=None) -> tuple[np.ndarray, np.ndarray]:
    """(PyTorch float32 logits, JAX logits computed in ``precision``) of ``model`` (any random-init PyTorch module,
    made informative here) and of ``spec``'s Flax module with the converted state dict, on ``n_images`` shared
    photos (``transform``, default the spec's own preprocessing). ``calibrate(model, images)``, if given, runs after
    the redraw, for families whose activations a random state leaves uninformative (B-cos: see tests/test_bcos.py)."""
    import torch
    from PIL import Image

    model = model.eval()
    informative_random_state(model)
    transform = transform or spec_transform(timm, spec.data)
    images = torch.stack([transform(Image.open(p).convert("RGB")) for p in sample_image_paths(shared_data, n_images)])
    if calibrate is not None:
        calibrate(model, images)
    with torch.inference_mode():
        torch_logits = model(images).numpy()
    params = jax.tree.map(jnp.asarray, load.convert_state_dict(spec, model.state_dict(), "random init"))
    module = models.build_module(spec, precision)
    inputs = jnp.asarray(images.permute(0, 2, 3, 1).numpy())
    encode = models.family(spec.family).input_encoding  # the module reads the network input (B-cos: [x, 1 - x])
    inputs = (inputs if encode is None else encode(inputs)).astype(models.PRECISIONS[precision])
    jax_logits = jax.jit(module.apply)({"params": params}, inputs).astype(jnp.float32)
    return torch_logits, np.asarray(jax_logits)


def parity_logits(timm, name: str, shared_data: Path, n_images: int = 2, precision: str = "fp32"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(PyTorch float32 logits, JAX logits computed in ``precision``) of registered model ``name`` on ``n_images``
    shared sample images (timm's own eval transform of the architecture)."""
    spec = zoo.get(name)
    model, transform = timm_reference(timm, spec.name)
    return compare(timm, spec, model, shared_data, n_images, transform, precision)


def small_variant(name: str, **config) -> zoo.ModelSpec:
    """The spec of registered model ``name`` with some of its config replaced (fewer blocks, narrower stages), so a
    family's parity test runs a small network of the same code paths. Not registered: tests use it directly."""
    spec = zoo.get(name)
    return dataclasses.replace(spec, name=f"{spec.name}@small", aliases=(),
                               config=zoo.config(**{**spec.config_dict(), **config}))


def check_timm(timm, spec_or_name, shared_data: Path, n_images: int = 2, **timm_kwargs) -> float:
    """The parity criterion for a spec (or registered name) against timm's random-init ``spec.arch``;
    ``timm_kwargs`` go to ``timm.create_model`` (the small variant's config, in timm's words)."""
    import torch

    spec = zoo.get(spec_or_name) if isinstance(spec_or_name, str) else spec_or_name
    torch.manual_seed(0)
    model = timm.create_model(spec.arch, pretrained=False, num_classes=spec.data.num_classes, **timm_kwargs)
    return assert_parity(*compare(timm, spec, model, shared_data, n_images))


def check_torchvision(timm, spec_or_name, builder: str, shared_data: Path, n_images: int = 2, **kwargs) -> float:
    """The parity criterion for a spec against torchvision's random-init ``torchvision.models.<builder>(**kwargs)``
    (families whose weights only torchvision ships, in torchvision's layout)."""
    import torch
    import torchvision

    spec = zoo.get(spec_or_name) if isinstance(spec_or_name, str) else spec_or_name
    torch.manual_seed(0)
    model = getattr(torchvision.models, builder)(weights=None, num_classes=spec.data.num_classes, **kwargs)
    return assert_parity(*compare(timm, spec, model, shared_data, n_images))


def assert_torchvision_param_count(spec_name: str, builder: str) -> None:
    """The spec's parameter count equals torchvision's ``<builder>()`` (built on the meta device: no memory) and
    the Flax module's own count (without the batch-norm running statistics, which PyTorch keeps as buffers)."""
    import torch
    import torchvision

    from jaxquba import models

    spec = zoo.get(spec_name)
    with torch.device("meta"):
        reference = getattr(torchvision.models, builder)()
    assert spec.num_params == sum(p.numel() for p in reference.parameters())
    assert models.count_params(spec) == spec.num_params


def assert_parity(torch_logits: np.ndarray, jax_logits: np.ndarray) -> float:
    """Asserts the issue's parity criterion; returns max |diff| / max |logit| for reporting."""
    assert torch_logits.shape == jax_logits.shape, (torch_logits.shape, jax_logits.shape)
    assert np.all(np.isfinite(jax_logits))
    scale = float(np.abs(torch_logits).max())
    max_diff = float(np.abs(torch_logits - jax_logits).max())
    ratio = max_diff / scale
    print(f"max|diff| {max_diff:.3g}, max|logit| {scale:.3g}, ratio {ratio:.3g}")
    assert ratio <= RELATIVE_TOLERANCE, f"max |logit diff| {max_diff:.3g} > {RELATIVE_TOLERANCE} x {scale:.3g}"
    top5_torch = np.argsort(-torch_logits, axis=1)[:, :5]
    top5_jax = np.argsort(-jax_logits, axis=1)[:, :5]
    for i, (a, b) in enumerate(zip(top5_torch, top5_jax)):
        assert set(a) == set(b), f"image {i}: top-5 {sorted(a)} (torch) vs {sorted(b)} (jax)"
    return ratio
