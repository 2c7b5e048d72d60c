"""B-cos networks against the ``bcos`` package (their reference code), random init, on real photos; and how the
6-channel input meets the views: the encoding [x, 1 - x] is the network input, built after every view, and
``quba_paper``'s attacks perturb it as the peer's did.

The package's models read the 6 channels; a forward pre-hook adds them (``bcos.data.transforms.AddInverse``), so
the PyTorch and the Flax model both take the 3-channel image in [0, 1] that the spec's preprocessing makes, and the
shared harness (:func:`parity_util.compare`) runs them on the same input. Small variants (one or two blocks per
stage) keep every code path of the registered depths: the registered ones only repeat the same block.

A random B-cos network is uninformative as drawn: a unit-norm kernel shrinks its input by about sqrt(fan-in) per
layer (``|cos| * ŵ^T x`` with ``|cos| ~ 1/sqrt(n)``), so after a dozen layers the logits are the constant bias
-log(999) plus ~1e-10, and any network would pass. :func:`calibrate` therefore sets every norm's running variance
to the variance of its input on the test photos (one pass in train mode, as training would), so activations stay
O(1); and parity is measured on the logits without the constant bias, so the tolerance is relative to what the
network computes.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity_util import assert_parity, compare, sample_image_paths, small_variant, spec_transform
from converters import load
from jaxquba import models, zoo
from jaxquba.views import attacks


def with_add_inverse(model):
    """``model`` fed ``[x, 1 - x]`` of its 3-channel input (the peer's last transform step, moved into the model)."""
    from bcos.data.transforms import AddInverse

    encode = AddInverse()
    model.register_forward_pre_hook(lambda module, args: (encode(args[0]),))
    return model


def package_model(bcos, spec: zoo.ModelSpec):
    """The package's random-init model of ``spec`` (seed 0), built from the package's own experiment config
    (``bcos_final``: B = 2 B-cos convs, ``NoBias(BatchNormUncentered2d)``, logit bias -log(999)) with ``spec``'s
    depths, so small variants are the package's code with fewer blocks."""
    import torch
    from bcos.experiments.utils import Experiment
    from bcos.models import convnext, densenet, resnet
    from bcos.modules import BcosConv2d

    config = spec.config_dict()
    if spec.family == "bcos_vit":
        return with_add_inverse(package_vit(config))
    base, experiment = {"bcos_resnet": ("bcos_final", "resnet_50"), "bcos_densenet": ("bcos_final", "densenet_121"),
                        "bcos_convnext": ("bcos_final_long", "convnext_tiny_pn")}[spec.family]
    model_config = Experiment("ImageNet", base, experiment).config["model"]
    args = {**model_config["args"], "conv_layer": functools.partial(BcosConv2d, **model_config["bcos_args"])}
    torch.manual_seed(0)
    if spec.family == "bcos_resnet":
        block = resnet.BasicBlock if config["block"] == "basic" else resnet.Bottleneck
        model = resnet.BcosResNet(block, list(config["depths"]), **args)
    elif spec.family == "bcos_densenet":
        model = densenet.BcosDenseNet(config["growth"], config["blocks"], config["stem_width"], **args)
    else:  # position norms (norm_layer None in the config), no stochastic depth at eval
        dims = config["dims"]
        setting = [convnext.CNBlockConfig(d, dims[i + 1] if i + 1 < len(dims) else None, n)
                   for i, (d, n) in enumerate(zip(dims, config["depths"]))]
        model = convnext.BcosConvNeXt(setting, **args)
    return with_add_inverse(model)


LOGIT_BIAS = -math.log(999)  # the package's LogitLayer bias for 1000 classes


def calibrate(model, images) -> None:
    """Every uncentered norm's running variance := the variance of its input on ``images`` (module docstring)."""
    import torch
    from bcos.modules.norms import BatchNormUncentered2d

    norms = [module for module in model.modules() if isinstance(module, BatchNormUncentered2d)]
    if not norms:
        return
    for module in norms:
        module.momentum = None  # cumulative average: one batch sets the statistics
        module.num_batches_tracked.zero_()
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def package_vit(config: dict):
    """The package's random-init B-cos simple ViT of ``config`` (seed 0) from its ``vit_final`` experiment config:
    ``BcosSequential(SimpleViT, LogitLayer)`` as its ``get_model`` builds it, at ``config``'s depth and widths."""
    import torch
    from bcos.experiments.utils import Experiment
    from bcos.models import vit
    from bcos.modules import BcosConv2d, BcosLinear, BcosSequential, LogitLayer

    model_config = Experiment("ImageNet", "vit_final", "bcos_simple_vit_b_patch16_224").config["model"]
    args = {**model_config["args"], "linear_layer": functools.partial(BcosLinear, **model_config["bcos_args"]),
            "conv2d_layer": functools.partial(BcosConv2d, **model_config["bcos_args"])}
    torch.manual_seed(0)
    model = vit.SimpleViT(image_size=224, patch_size=config["patch"], dim=config["dim"],
                          depth=config["depth"], heads=config["heads"], mlp_dim=config["mlp_dim"], **args)
    return BcosSequential(model, LogitLayer(logit_bias=model_config["logit_bias"]))


def check_package(timm, bcos, spec: zoo.ModelSpec, shared_data, n_images: int = 2) -> float:
    torch_logits, jax_logits = compare(timm, spec, package_model(bcos, spec), shared_data, n_images,
                                       calibrate=calibrate)
    assert np.ptp(torch_logits - LOGIT_BIAS, axis=1).min() > 1e-3  # informative (module docstring)
    return assert_parity(torch_logits - LOGIT_BIAS, jax_logits - LOGIT_BIAS)


def test_bcos_resnet_basic_parity(timm_module, bcos_module, shared_data):
    """Basic blocks, the 6-channel stem, the strided shortcuts and the conv classifier (ResNet-18/34's code)."""
    check_package(timm_module, bcos_module, small_variant("bcos_resnet18.in1k", depths=(1, 1, 1, 1)), shared_data)


def test_bcos_resnet_bottleneck_parity(timm_module, bcos_module, shared_data):
    check_package(timm_module, bcos_module, small_variant("bcos_resnet50.in1k", depths=(1, 1, 1, 1)), shared_data)


def test_bcos_convnext_parity(timm_module, bcos_module, shared_data):
    """Stem, depthwise (grouped) B-cos convs, position norms, layer scales and downsampling, at ConvNeXt-T's
    widths with one block per stage (the norms keep activations O(1): nothing to calibrate)."""
    check_package(timm_module, bcos_module, small_variant("bcos_convnext_tiny.in1k", depths=(1, 1, 1, 1)),
                  shared_data)


def test_bcos_vit_parity(timm_module, bcos_module, shared_data):
    """Patch embedding of the 6 channels, sin-cos positions, B-cos attention output and MLP, the plain qkv, the
    head: ViT-B/16's widths with two encoder blocks."""
    check_package(timm_module, bcos_module, small_variant("bcos_simple_vit_b_patch16_224.in1k", depth=2),
                  shared_data)


def test_bcos_vit_positions_match_the_package(bcos_module):
    """The fixed 2-D sin-cos table on a non-square grid (a swap of x and y moves the ViT's logits by only ~5e-5 of
    their range at random init, under the parity tolerance: the mean over tokens nearly hides it, so the table is
    checked on its own)."""
    import torch
    from bcos.models.vit import PosEmbSinCos2d

    from jaxquba.models.bcos import sincos_2d

    expected = PosEmbSinCos2d()(torch.zeros(1, 3, 5, 64)).numpy()
    np.testing.assert_allclose(np.asarray(sincos_2d(3, 5, 64)), expected, rtol=1e-6, atol=1e-6)


def test_bcos_densenet_parity(timm_module, bcos_module, shared_data):
    """Dense layers, transitions and the final norm, at DenseNet-121's widths with two layers per block."""
    check_package(timm_module, bcos_module, small_variant("bcos_densenet121.in1k", blocks=(2, 2, 2, 2)), shared_data)


@pytest.fixture(scope="module")
def small_bcos(timm_module, bcos_module, shared_data):
    """(spec, random-init package model with the encoding hook, converted params, two photos in [0, 1] NHWC)."""
    import torch
    from PIL import Image

    from parity_util import informative_random_state

    spec = small_variant("bcos_resnet18.in1k", depths=(1, 1, 1, 1))
    model = package_model(bcos_module, spec).eval()
    informative_random_state(model)
    # 112 px photos: the network is fully convolutional, and a quarter of the pixels keeps the attack test short.
    transform = spec_transform(timm_module, dataclasses.replace(spec.data, input_size=112))
    images = torch.stack([transform(Image.open(p).convert("RGB")) for p in sample_image_paths(shared_data, 2)])
    calibrate(model, images)
    params = jax.tree.map(jnp.asarray, load.convert_state_dict(spec, model.state_dict(), "random init"))
    return spec, model, params, jnp.asarray(images.permute(0, 2, 3, 1).numpy())


def bcos_context(spec, params, labels):
    """The engine's view context for a B-cos spec (its network input is the six channels [x, 1 - x])."""
    from jaxquba.views.base import ViewContext
    apply, to_network_input, apply_network_input = map(jax.jit, models.make_network_fns(spec))
    return ViewContext(jnp.arange(len(labels), dtype=jnp.int32), labels, 0, lambda x: apply(params, x),
                       to_network_input, lambda z: apply_network_input(params, z))


def fgsm_reference(model, inputs01: np.ndarray, labels, eps: float) -> np.ndarray:
    """FGSM by hand on ``model`` (NCHW in): ``clip(x + eps * sign(grad CE), 0, 1)``, NHWC out."""
    import torch
    x = torch.tensor(inputs01.transpose(0, 3, 1, 2), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor(np.asarray(labels), dtype=torch.long),
                                             reduction="sum")
    loss.backward()
    return (x + eps * x.grad.sign()).clamp(0, 1).detach().numpy().transpose(0, 2, 3, 1)


def test_bcos_pixel_attack_perturbs_the_three_channel_image(small_bcos):
    """FGSM (8/255) in the ``pixel`` space (the corrected protocol) on a B-cos model: the attack perturbs the
    3-channel image, epsilon is measured on it, and the model encodes the adversarial image as [x', 1 - x']."""
    import torch

    spec, model, params, images01 = small_bcos
    apply = jax.jit(models.make_apply(spec))
    labels = jnp.argmax(apply(params, images01), axis=-1)  # attack the model's own prediction
    eps = 8 / 255
    view = attacks.fgsm_view(8, "pixel")
    adv = view(images01, bcos_context(spec, params, labels))
    assert not view.returns_network_input and adv.shape == images01.shape  # 3 channels
    delta = np.abs(np.asarray(adv - images01))
    assert delta.max() <= eps + 1e-6 and float(np.mean(np.isclose(delta, eps, atol=1e-6))) > 0.5
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0

    # The reference: FGSM on the 3-channel image through the package's model with AddInverse inside it, i.e. the
    # gradient flows through both x and 1 - x. Float32 summation order can flip the sign of near-zero gradient
    # entries, so at most 0.1% of the values may differ (each such value differs by 2 eps).
    reference = fgsm_reference(model, np.asarray(images01), labels, eps)
    assert float(np.mean(~np.isclose(np.asarray(adv), reference, atol=1e-6))) <= 1e-3

    # The model's logits on the adversarial image are the package's on [x', 1 - x'].
    with torch.inference_mode():
        torch_logits = model(torch.tensor(np.asarray(adv).transpose(0, 3, 1, 2))).numpy()
    assert_parity(torch_logits - LOGIT_BIAS, np.asarray(apply(params, adv)) - LOGIT_BIAS)


def test_bcos_quba_paper_attack_perturbs_the_six_channel_network_input(small_bcos):
    """FGSM (8/255) in the ``network_input`` space (``quba_paper``, the peer's threat model): the attack perturbs the
    six channels x and 1 - x independently, as torchattacks did on the peer's AddInverse output, and the view
    returns them, which is no longer an image (the halves no longer sum to 1)."""
    import torch

    spec, model, params, images01 = small_bcos
    labels = jnp.argmax(jax.jit(models.make_apply(spec))(params, images01), axis=-1)
    eps = 8 / 255
    view = attacks.fgsm_view(8, "network_input")
    ctx = bcos_context(spec, params, labels)
    adv = view(images01, ctx)
    encoded = np.concatenate([images01, 1 - images01], axis=-1)
    assert view.returns_network_input and adv.shape == encoded.shape  # six channels
    delta = np.abs(np.asarray(adv) - encoded)
    assert delta.max() <= eps + 1e-6 and float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    halves_sum = np.asarray(adv[..., :3] + adv[..., 3:])
    assert float(np.mean(np.abs(halves_sum - 1) > 1e-3)) > 0.1  # both halves moved the same way somewhere

    # The reference: FGSM on the six channels through the package's network without the encoding hook
    # (``forward`` skips the pre-hook), at most 0.1% of values differing by a near-zero gradient's sign.
    reference = fgsm_reference(model.forward, encoded, labels, eps)
    assert float(np.mean(~np.isclose(np.asarray(adv), reference, atol=1e-6))) <= 1e-3

    # The engine evaluates the returned network input with the model on network inputs: the package's logits on it.
    with torch.inference_mode():
        torch_logits = model.forward(torch.tensor(np.asarray(adv).transpose(0, 3, 1, 2))).numpy()
    assert_parity(torch_logits - LOGIT_BIAS, np.asarray(ctx.network_input_logits_fn(adv)) - LOGIT_BIAS)


def test_bcos_normalisation_is_the_identity_and_the_encoding_is_x_and_its_inverse(small_bcos):
    """Corruptions and filters see the image itself: the model-side normalisation of a B-cos spec changes nothing,
    and the network input is [x, 1 - x]. The module's stem reads it: the inverted image through a stem whose two
    3-channel kernel halves are swapped gives the same logits."""
    spec, _, params, images01 = small_bcos
    np.testing.assert_array_equal(np.asarray(models.normalize(images01, spec.data)), np.asarray(images01))
    np.testing.assert_array_equal(np.asarray(models.network_input(images01, spec)),
                                  np.concatenate([images01, 1 - images01], axis=-1))
    apply = jax.jit(models.make_apply(spec))
    kernel = params["conv1"]["kernel"]
    assert kernel.shape[2] == 6 and images01.shape[-1] == 3
    swapped = {**params, "conv1": {"kernel": jnp.concatenate([kernel[:, :, 3:], kernel[:, :, :3]], axis=2)}}
    evidence = np.asarray(apply(params, images01)) - LOGIT_BIAS
    assert_parity(evidence, np.asarray(apply(swapped, 1 - images01)) - LOGIT_BIAS)
    assert not np.allclose(evidence, np.asarray(apply(params, 1 - images01)) - LOGIT_BIAS, rtol=0.1)
