"""RobustBench ImageNet models on their Flax families: RobustBench's ``Sequential(normalize, model)`` wrapper (or the
bare model, for those without a normaliser) on [0, 1] images against the converted spec's classifier function (which
normalises with the spec's data config), random init, real photos; and the normaliser check.

RobustBench (1.1.1) is not installed (it pins an older timm). Its models are assembled here as its
``model_zoo/imagenet.py`` assembles them, from the same torchvision and timm builders: ``normalize_model(model, mu,
sigma)`` is ``Sequential(normalize=ImageNormalizer, model=model)`` with ``mean``/``std`` buffers (1, 3, 1, 1), and
``get_convstem_models`` replaces a timm model's stem (or ViT patch projection) by a ``ConvBlock*``. Its two small
modules are rebuilt from torch and timm layers under its state-dict names: ``ImageNormalizer`` (``(x - mean) /
std``) and the ConvStem blocks (``stem`` = Sequential of 3x3 conv, channels-first LayerNorm eps 1e-6, GELU, ...;
RobustBench's own channels-first LayerNorm computes the mean and biased variance over channels with an affine
``weight``/``bias``, which is timm's ``LayerNorm2d``). The state dicts converted are these models' ``state_dict()``:
the layout of RobustBench's loaded model (``utils.load_model`` loads the checkpoint into the same assembled module,
``model.``-prefixed where a normaliser wraps it), which is what ``--weights=PATH`` takes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from converters import load
from jaxquba import models, zoo
from jaxquba.errors import UserError
from parity_util import assert_parity, informative_random_state, sample_image_paths, small_variant


def _wrapped(timm, arch: str, mean, std, **kwargs):
    """RobustBench's ``normalize_model`` around timm's random-init ``arch``."""
    import torch

    torch.manual_seed(0)
    return _normalized(timm.create_model(arch, pretrained=False, **kwargs), mean, std)


def _normalized(model, mean, std):
    """RobustBench's ``normalize_model``: ``ImageNormalizer`` buffers ``mean``/``std`` (1, 3, 1, 1), then the model
    (made informative)."""
    import collections

    import torch

    class ImageNormalizer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.as_tensor(std).view(1, 3, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    wrapped = torch.nn.Sequential(collections.OrderedDict([("normalize", ImageNormalizer()), ("model", model)]))
    informative_random_state(wrapped.model)
    return wrapped.eval()


def _pixels(timm, spec, shared_data, count=2):
    """The spec's resize and crop, no normalisation: RobustBench models take [0, 1] images."""
    import torch
    from PIL import Image

    d = spec.data
    transform = timm.data.create_transform(input_size=(3, d.input_size, d.input_size), crop_pct=d.crop_pct,
                                           interpolation=d.interpolation, mean=(0, 0, 0), std=(1, 1, 1))
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in sample_image_paths(shared_data, count)])


def _classifier_parity(timm, spec, wrapped, shared_data) -> float:
    import torch

    images = _pixels(timm, spec, shared_data)
    with torch.inference_mode():
        torch_logits = wrapped(images).numpy()
    params = jax.tree.map(jnp.asarray, load.convert_state_dict(spec, wrapped.state_dict(), "random init"))
    jax_logits = jax.jit(models.make_apply(spec))(params, jnp.asarray(images.permute(0, 2, 3, 1).numpy()))
    return assert_parity(torch_logits, np.asarray(jax_logits))


def test_liu2023_swin_reads_the_wrapped_timm_swin(timm_module):
    """RobustBench's wrapped Swin converts to exactly the parameters of the bare timm Swin (whose conversion
    tests/test_swin.py checks for parity); the wrapper's end-to-end path is checked on the ConvStem ViT-S below."""
    spec = small_variant("Liu2023Comprehensive-Swin-B", depths=(1, 1, 2, 1))
    wrapped = _wrapped(timm_module, "swin_base_patch4_window7_224", spec.data.mean, spec.data.std,
                       depths=(1, 1, 2, 1))
    bare = dataclasses.replace(spec, family="swin")
    ours = load.convert_state_dict(spec, wrapped.state_dict(), "random init")
    theirs = load.convert_state_dict(bare, wrapped.model.state_dict(), "random init")
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_array_equal(a, b)


def test_normalizer_that_differs_from_the_spec_is_refused(timm_module):
    spec = small_variant("Liu2023Comprehensive-Swin-B", depths=(1, 1, 2, 1))
    wrapped = _wrapped(timm_module, "swin_base_patch4_window7_224", (0.5, 0.5, 0.5), spec.data.std,
                       depths=(1, 1, 2, 1))
    with pytest.raises(UserError, match="normalises with mean"):
        load.convert_state_dict(spec, wrapped.state_dict(), "random init")


def _conv_block(stages, proj_dim: int = 0):
    """RobustBench's ``ConvBlock*`` (convstem_models.py): per (width, stride) a 3x3 conv, a channels-first LayerNorm
    (eps 1e-6) and GELU, then (``ConvBlock``, the ViT stems) a 1x1 conv to ``proj_dim``; the same ``stem``
    Sequential indices."""
    import torch
    from timm.layers import LayerNorm2d

    mods = []
    c_in = 3
    for width, stride in stages:
        mods += [torch.nn.Conv2d(c_in, width, 3, stride, 1), LayerNorm2d(width, eps=1e-6), torch.nn.GELU()]
        c_in = width
    if proj_dim:
        mods.append(torch.nn.Conv2d(c_in, proj_dim, 1))
    block = torch.nn.Module()
    block.stem = torch.nn.Sequential(*mods)
    block.forward = lambda x: block.stem(x)
    return block


def _vit_conv_block(width: int, embed_dim: int):
    """``ConvBlock(width)``: four 3x3/2 convs of width x (1, 2, 4, 8), then the 1x1 conv to the embedding."""
    return _conv_block([(width * m, 2) for m in (1, 2, 4, 8)], embed_dim)


@pytest.mark.parametrize("name,arch,wrapped", [("Singh2023Revisiting-ViT-S-ConvStem", "deit_small_patch16_224", True),
                                               ("Singh2023Revisiting-ViT-B-ConvStem", "vit_base_patch16_224", False)])
def test_singh2023_convstem_vit_parity(name, arch, wrapped, timm_module, shared_data):
    """ViT-S behind the normaliser (``model.`` keys), ViT-B without one; both with the convolutional stem."""
    import torch

    full = zoo.get(name)
    with torch.device("meta"):
        counted = timm_module.create_model(arch)
    counted.patch_embed.proj = _vit_conv_block(48, full.config_dict()["embed_dim"])
    assert full.num_params == sum(p.numel() for p in counted.parameters())

    spec = small_variant(name, depth=1)
    reference = _wrapped(timm_module, arch, spec.data.mean, spec.data.std, depth=1)
    reference.model.patch_embed.proj = _vit_conv_block(48, spec.config_dict()["embed_dim"])
    informative_random_state(reference.model)
    _classifier_parity(timm_module, spec, reference if wrapped else reference.model, shared_data)


# --- adversarially trained CNNs: Salman et al. 2020 ResNets, Liu et al. 2023 ConvNeXts, Singh et al. 2023 ConvStem
# ConvNeXts (RobustBench's model_zoo/imagenet.py and convstem_models.py) --------------------------------------------

_TORCHVISION_RESNETS = {"Salman2020Do-RN50": ("resnet50", {}), "Salman2020Do-RN50-2": ("wide_resnet50_2",
                                                                                      {"width_per_group": 128})}
_CONVSTEM = {"T": ("convnext_tiny", [(48, 2), (96, 2)]),  # ConvBlock1(48)
             "S": ("convnext_small", [(48, 2), (96, 2)]),
             "B": ("convnext_base", [(64, 2), (96, 2), (128, 1)]),  # ConvBlock3(64)
             "L": ("convnext_large", [(96, 2), (144, 2), (192, 1)])}  # ConvBlock3(96)


def _convstem_convnext(timm, letter: str, **kwargs):
    """RobustBench's ``get_convstem_models('convnext_<letter>_cvst')``: timm's ConvNeXt, ``model.stem`` replaced; no
    normaliser."""
    arch, stages = _CONVSTEM[letter]
    model = timm.create_model(arch, pretrained=False, **kwargs)
    model.stem = _conv_block(stages)
    return model


def test_adversarially_trained_cnn_parameter_counts(timm_module):
    """Each spec's count is that of the module RobustBench assembles (built on the meta device)."""
    import torch
    import torchvision

    counts = {}
    with torch.device("meta"):
        for name, (builder, _) in _TORCHVISION_RESNETS.items():
            counts[name] = getattr(torchvision.models, builder)()
        for size in ("B", "L"):
            counts[f"Liu2023Comprehensive-ConvNeXt-{size}"] = timm_module.create_model(
                {"B": "convnext_base", "L": "convnext_large"}[size])
        for letter in _CONVSTEM:
            counts[f"Singh2023Revisiting-ConvNeXt-{letter}-ConvStem"] = _convstem_convnext(timm_module, letter)
    for name, model in counts.items():
        assert zoo.get(name).num_params == sum(p.numel() for p in model.parameters()), name
    for letter in ("T", "B"):  # the Flax modules of both stem kinds (ConvBlock1, ConvBlock3)
        spec = zoo.get(f"Singh2023Revisiting-ConvNeXt-{letter}-ConvStem")
        assert models.count_params(spec) == spec.num_params


def test_salman2020_wide_resnet_parity(timm_module, shared_data):
    """``normalize_model(torchvision wide_resnet50_2(), mu, sigma)``, one bottleneck per stage (torchvision's
    ``ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=128)``; ResNet-50 is the same code at width 64), on [0, 1]
    images resized as the peer does (256 bilinear, crop 224)."""
    import torch
    from torchvision.models.resnet import Bottleneck, ResNet

    spec = small_variant("Salman2020Do-RN50-2", depths=(1, 1, 1, 1))
    torch.manual_seed(0)
    reference = _normalized(ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=128), spec.data.mean, spec.data.std)
    assert {k.split(".")[0] for k in reference.state_dict()} == {"normalize", "model"}
    _classifier_parity(timm_module, spec, reference, shared_data)


def test_liu2023_convnext_parity(timm_module, shared_data):
    """``normalize_model(timm convnext_base, mu, sigma)`` with one block per stage."""
    spec = small_variant("Liu2023Comprehensive-ConvNeXt-B", depths=(1, 1, 1, 1))
    reference = _wrapped(timm_module, "convnext_base", spec.data.mean, spec.data.std, depths=(1, 1, 1, 1))
    _classifier_parity(timm_module, spec, reference, shared_data)


@pytest.mark.parametrize("letter", ["T", "B"])
def test_singh2023_convstem_convnext_parity(letter, timm_module, shared_data):
    """The bare ConvStem ConvNeXt (no normaliser: [0, 1] images in, spec mean 0 and std 1), one block per stage;
    T has ``ConvBlock1`` (two strided convs), B ``ConvBlock3`` (a third, unstrided one)."""
    import torch

    spec = small_variant(f"Singh2023Revisiting-ConvNeXt-{letter}-ConvStem", depths=(1, 1, 1, 1))
    assert spec.data.mean == (0.0, 0.0, 0.0) and spec.data.std == (1.0, 1.0, 1.0)
    torch.manual_seed(0)
    reference = _convstem_convnext(timm_module, letter, depths=(1, 1, 1, 1)).eval()
    informative_random_state(reference)
    assert any(k.startswith("stem.stem.") for k in reference.state_dict())
    _classifier_parity(timm_module, spec, reference, shared_data)


def test_loaded_layout_without_the_wrapper_is_refused(timm_module):
    """A Liu2023 ConvNeXt state dict must be RobustBench's loaded model's (``normalize.*`` + ``model.*``); the bare
    timm layout (its Google Drive file after RobustBench strips ``module.``/``model.``) is not silently taken as a
    model without normalisation."""
    spec = small_variant("Liu2023Comprehensive-ConvNeXt-B", depths=(1, 1, 1, 1))
    wrapped = _wrapped(timm_module, "convnext_base", spec.data.mean, spec.data.std, depths=(1, 1, 1, 1))
    with pytest.raises(UserError, match="no RobustBench normaliser"):
        load.convert_state_dict(spec, wrapped.model.state_dict(), "random init")


def test_quba_paper_attacks_robustbench_models_on_the_image():
    """The peer attacked the tensor its transform produced (PROTOCOLS.md P1.3): for RobustBench's models, whose
    wrappers normalise inside, that is the image, so ``quba_paper``'s epsilon is in pixels for all of them (those
    with a normaliser: ``normalizes_inside`` families; those without: mean 0 and std 1), while an ordinary model of
    the same architecture is attacked on its normalised tensor."""
    from jaxquba.views import attacks
    from jaxquba.views.base import ViewContext

    images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)), jnp.float32)
    rows = [s for s in zoo.all_specs() if s.name.startswith(("Salman2020Do", "Liu2023Comprehensive", "Singh2023"))]
    assert len(rows) >= 10
    for spec in rows:
        np.testing.assert_array_equal(np.asarray(models.network_input(images, spec)), np.asarray(images),
                                      err_msg=spec.name)
    normalised = models.normalize(images, zoo.get("resnet50.tv_in1k").data)
    np.testing.assert_array_equal(np.asarray(models.network_input(images, zoo.get("resnet50.tv_in1k"))),
                                  np.asarray(normalised))

    # A normalizes_inside family's model on its network input normalises it first: the same logits as on the image.
    spec = small_variant("Salman2020Do-RN50", depths=(1, 1, 1, 1))
    params = load.random_params(spec)
    apply, to_network_input, apply_network_input = models.make_network_fns(spec)
    np.testing.assert_array_equal(np.asarray(apply(params, images)),
                                  np.asarray(apply_network_input(params, images)))
    # and quba_paper's FGSM then moves each pixel by at most 8/255 (the image is the attack variable)
    ctx = ViewContext(jnp.arange(2, dtype=jnp.int32), jnp.zeros(2, jnp.int32), 0, lambda x: apply(params, x),
                      to_network_input, lambda z: apply_network_input(params, z))
    adv = np.asarray(attacks.fgsm_view(8, "network_input")(images, ctx))
    assert adv.shape == images.shape and np.abs(adv - np.asarray(images)).max() <= 8 / 255 + 1e-6
