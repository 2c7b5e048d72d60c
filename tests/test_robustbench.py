"""RobustBench ImageNet models on their Flax families: RobustBench's ``Sequential(normalize, model)`` wrapper on
[0, 1] images against the converted spec's classifier function (which normalises with the spec's data config), random
init, real photos; and the normaliser check."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from converters import load
from jaxquba import models
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


def test_liu2023_swin_parity(timm_module, shared_data):
    spec = small_variant("Liu2023Comprehensive-Swin-B", depths=(1, 1, 2, 1))
    wrapped = _wrapped(timm_module, "swin_base_patch4_window7_224", spec.data.mean, spec.data.std,
                       depths=(1, 1, 2, 1))
    _classifier_parity(timm_module, spec, wrapped, shared_data)


def test_normalizer_that_differs_from_the_spec_is_refused(timm_module):
    spec = small_variant("Liu2023Comprehensive-Swin-B", depths=(1, 1, 2, 1))
    wrapped = _wrapped(timm_module, "swin_base_patch4_window7_224", (0.5, 0.5, 0.5), spec.data.std,
                       depths=(1, 1, 2, 1))
    with pytest.raises(UserError, match="normalises with mean"):
        load.convert_state_dict(spec, wrapped.state_dict(), "random init")
