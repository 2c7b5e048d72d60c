"""RobustBench ImageNet models on their Flax families: RobustBench's ``Sequential(normalize, model)`` wrapper (or the
bare model, for those without a normaliser) on [0, 1] images against the converted spec's classifier function (which
normalises with the spec's data config), random init, real photos; and the normaliser check. RobustBench is not
installed: its two small modules (``ImageNormalizer``, the ConvStem ``ConvBlock``) are rebuilt here from torch and
timm layers with its state-dict names."""

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
    """RobustBench's ``normalize_model``: ``ImageNormalizer`` buffers ``mean``/``std`` (1, 3, 1, 1), then the model."""
    import collections

    import torch

    class ImageNormalizer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean).view(1, 3, 1, 1))
            self.register_buffer("std", torch.as_tensor(std).view(1, 3, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, **kwargs)
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


def _conv_block(width: int, embed_dim: int):
    """RobustBench's ``ConvBlock`` (convstem_models.py): four 3x3/2 convs with channels-first LayerNorm (eps 1e-6)
    and GELU, then a 1x1 conv; the same ``stem`` Sequential indices."""
    import torch
    from timm.layers import LayerNorm2d

    mods = []
    c_in = 3
    for mult in (1, 2, 4, 8):
        mods += [torch.nn.Conv2d(c_in, width * mult, 3, 2, 1), LayerNorm2d(width * mult, eps=1e-6), torch.nn.GELU()]
        c_in = width * mult
    block = torch.nn.Module()
    block.stem = torch.nn.Sequential(*mods, torch.nn.Conv2d(c_in, embed_dim, 1))
    block.forward = lambda x: block.stem(x)
    return block


@pytest.mark.parametrize("name,arch,wrapped", [("Singh2023Revisiting-ViT-S-ConvStem", "deit_small_patch16_224", True),
                                               ("Singh2023Revisiting-ViT-B-ConvStem", "vit_base_patch16_224", False)])
def test_singh2023_convstem_vit_parity(name, arch, wrapped, timm_module, shared_data):
    """ViT-S behind the normaliser (``model.`` keys), ViT-B without one; both with the convolutional stem."""
    import torch

    full = zoo.get(name)
    with torch.device("meta"):
        counted = timm_module.create_model(arch)
    counted.patch_embed.proj = _conv_block(48, full.config_dict()["embed_dim"])
    assert full.num_params == sum(p.numel() for p in counted.parameters())

    spec = small_variant(name, depth=1)
    reference = _wrapped(timm_module, arch, spec.data.mean, spec.data.std, depth=1)
    reference.model.patch_embed.proj = _conv_block(48, spec.config_dict()["embed_dim"])
    informative_random_state(reference.model)
    _classifier_parity(timm_module, spec, reference if wrapped else reference.model, shared_data)
