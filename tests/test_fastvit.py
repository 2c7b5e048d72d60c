"""FastViT against timm (random init with redrawn batch-norm statistics and layer scales, real images).

The converter fuses the training-time branches that timm's default model and the published checkpoints hold
(converters/fastvit.py), so parity here is between two layouts of one function: timm's unfused forward and the
fused Flax module, within the issue's 1e-4 of the logit range (float32 rounding of the fused kernels). The batch
norms are calibrated on the photos (parity_util.calibrate_batch_norms): as drawn, the network maps every image to
the same logits. A reduced-depth
SA12 runs every unit (MobileOne stem, large-kernel patch embeddings, RepMixer blocks, the positional encoding and
attention blocks, the squeeze-excite final conv); the full sizes are checked by parameter count.
"""

import copy

import jax
import numpy as np
import pytest

from converters import load
from jaxquba import models, zoo
from jaxquba.models.fastvit import FUSED_AWAY
from parity_util import assert_parity, calibrate_batch_norms, compare, informative_random_state, small_variant

SMALL_DEPTHS = (1, 1, 2, 1)


def small_timm(timm):
    import torch

    torch.manual_seed(0)
    return timm.create_model("fastvit_sa12", pretrained=False, layers=SMALL_DEPTHS).eval()


def test_fastvit_sa12_small_parity(timm_module, shared_data):
    spec = small_variant("fastvit_sa12.apple_in1k", layers=SMALL_DEPTHS)
    torch_logits, jax_logits = compare(timm_module, spec, small_timm(timm_module), shared_data, n_images=2,
                                       calibrate=calibrate_batch_norms)
    assert np.abs(torch_logits[0] - torch_logits[1]).max() > 0.1 * np.abs(torch_logits).max()  # images matter
    assert_parity(torch_logits, jax_logits)


def test_reparameterised_state_dict_converts_to_the_same_parameters(timm_module):
    """A state dict in the inference layout (timm's ``reparameterize_model``, float32 fusion) converts to the
    parameters the converter fuses itself (float64 fusion) up to float32 rounding."""
    from timm.utils.model import reparameterize_model

    spec = small_variant("fastvit_sa12.apple_in1k", layers=SMALL_DEPTHS)
    model = small_timm(timm_module)
    informative_random_state(model)
    fused_by_timm = reparameterize_model(copy.deepcopy(model))
    assert any(k.endswith("reparam_conv.weight") for k in fused_by_timm.state_dict())
    ours = load.convert_state_dict(spec, model.state_dict(), "random init")
    theirs = load.convert_state_dict(spec, fused_by_timm.state_dict(), "random init, reparameterised")
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(ours), jax.tree_util.tree_leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max(), err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("arch", sorted(FUSED_AWAY))
def test_fastvit_spec_matches_timm(arch, timm_module):
    """The published count (timm's training-time model) and the fused module's own count (timm's reparameterised
    model); tests/test_zoo.py checks the data config against the pretrained tag."""
    import torch
    from timm.utils.model import reparameterize_model

    spec = zoo.get(f"{arch}.apple_in1k")
    with torch.device("meta"):
        model = timm_module.create_model(arch).eval()
        fused = reparameterize_model(model)
    assert spec.num_params == sum(p.numel() for p in model.parameters())
    assert spec.num_params - FUSED_AWAY[arch] == sum(p.numel() for p in fused.parameters())
    if arch == "fastvit_sa12":  # the Flax module's own count (traced: a few seconds; the others repeat its blocks)
        assert models.count_params(spec) == spec.num_params - FUSED_AWAY[arch]
