"""CrossViT parity with timm (random init, real images): the two branches, PyTorch's bicubic resize of the second
branch's input, cross-attention fusion of the class tokens."""

import numpy as np

from jaxquba.models.crossvit import torch_bicubic_matrix
from parity_util import assert_parity, parity_logits


def test_crossvit_9_dagger_parity(timm_module, shared_data):
    assert_parity(*parity_logits(timm_module, "crossvit_9_dagger_240.in1k", shared_data, n_images=2))


def test_bicubic_matrix_matches_torch(timm_module):
    """240 -> 224 along one axis against F.interpolate on an impulse basis. Both evaluate the cubic in float32 but in
    a different operation order: 5 of 53760 weights differ by up to 1.02e-5, so 2e-5 (weights are <= 1.1); a wrong
    coefficient, offset or clamp is off by > 1e-2."""
    import torch

    eye = torch.eye(240).reshape(240, 1, 240, 1).expand(240, 1, 240, 2)
    expected = torch.nn.functional.interpolate(eye, size=(224, 2), mode="bicubic", align_corners=False)
    np.testing.assert_allclose(torch_bicubic_matrix(240, 224), expected[:, 0, :, 0].numpy().T, atol=2e-5)
