"""CLIP parity: randomly initialised open_clip models converted to Flax, compared on real images and real prompts.

Tolerance: 1e-4 relative (max |difference| / max |reference value|) for image features, text features and zero-shot
logits, float32 on both sides with the highest matmul precision. Summation order is the only legitimate difference
(~1e-6 relative per layer); a wrong layer is off by O(1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from converters.state_dict import StateDictReader, check_conversion
from jaxquba import models, zoo
from jaxquba.models import clip as clip_models
from jaxquba.zeroshot import heads
from jaxquba.zeroshot.tokenizer import Tokenizer

RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def open_clip(timm_module):
    from converters.torch_env import import_open_clip
    return import_open_clip()


def informative_random_state(model, seed: int = 0) -> None:
    """Redraws what open_clip initialises to constants (norm weights/biases, attention biases, BN statistics)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point() or name == "logit_scale":
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var":
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            elif leaf == "running_mean" or (t.ndim == 1 and "bias" in leaf):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.ndim == 1 and leaf == "weight":
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.5)


def sample_images(shared_data, transform, count):
    import torch
    from PIL import Image

    files = sorted((shared_data / "imagenet_samples").glob("*.JPEG"))[::97][:count]
    return torch.stack([transform(Image.open(f).convert("RGB")) for f in files])


def relative_error(reference, value) -> float:
    reference, value = np.asarray(reference), np.asarray(value)
    assert reference.shape == value.shape
    return float(np.abs(reference - value).max() / np.abs(reference).max())


def convert_and_check(spec, state_dict, with_head: bool):
    from converters import clip as clip_converter

    reader = StateDictReader(state_dict)
    params = clip_converter.convert(reader, spec) if with_head else clip_converter.convert_towers(reader, spec)
    size = spec.data.input_size
    expected = jax.eval_shape(models.build_module(spec).init, jax.random.PRNGKey(0),
                              jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))["params"]
    if not with_head:
        expected = {k: v for k, v in expected.items() if k != "zeroshot_head"}
    check_conversion(params, expected, reader, "open_clip random init", spec.name)
    return jax.tree.map(jnp.asarray, params)


def torch_head(model, tokenizer, classnames, templates):
    import torch

    with torch.inference_mode():
        rows = []
        for name in classnames:
            features = model.encode_text(tokenizer([t(name) for t in templates]), normalize=True)
            mean = features.mean(dim=0)
            rows.append(mean / mean.norm())
        return torch.stack(rows).T.numpy()


def compare_with_open_clip(open_clip, model, spec, shared_data, tokenizer_arch: str) -> dict[str, float]:
    """Relative errors of image features, prompt features, the 10-class head and the zero-shot logits of ``spec``
    (converted from ``model``'s state dict) against the open_clip ``model`` on 2 real photos."""
    import torch

    transform = open_clip.image_transform(spec.data.input_size, is_train=False)
    images = sample_images(shared_data, transform, 2)
    classnames, templates = heads.imagenet_metadata()
    classnames, templates = classnames[::100], templates[::20]  # 10 classes x 4 templates keep the CPU time low
    ref_tokenizer = open_clip.get_tokenizer(tokenizer_arch)
    prompts = [t(c) for c in classnames for t in templates]
    with torch.inference_mode():
        ref_image = model.encode_image(images).numpy()
        ref_text = model.encode_text(ref_tokenizer(prompts), normalize=True).numpy()
    ref_head = torch_head(model, ref_tokenizer, classnames, templates)
    ref_logits = 100 * (ref_image / np.linalg.norm(ref_image, axis=1, keepdims=True)) @ ref_head

    params = convert_and_check(spec, model.state_dict(), with_head=False)
    module = models.build_module(spec)
    variables = {"params": {**params, "zeroshot_head": jnp.zeros((spec.config_dict()["embed_dim"], 1000))}}
    encode_text = lambda tokens: module.apply(variables, tokens, method="encode_text")  # noqa: E731
    x = jnp.asarray(images.permute(0, 2, 3, 1).numpy())
    image_features = module.apply(variables, x, method="encode_image")
    text_features = heads.encode_prompts(encode_text, prompts)
    head = heads.class_embeddings(encode_text, classnames, templates)
    # The classifier path with the 10-class head in the first columns of a 1000-class head.
    variables["params"]["zeroshot_head"] = variables["params"]["zeroshot_head"].at[:, :len(classnames)].set(head)
    logits = module.apply(variables, x)[:, :len(classnames)]

    errors = {"image": relative_error(ref_image, image_features), "text": relative_error(ref_text, text_features),
              "head": relative_error(ref_head, head), "logits": relative_error(ref_logits, logits)}
    print(spec.name, errors)
    return errors


# The ViT tower with QuickGELU and the modified ResNet; the exact-GELU towers of the OpenCLIP trainings are covered by
# the small models below.
@pytest.mark.parametrize("name", ["clip_vit_b16.openai", "clip_rn50.openai"])
def test_towers_and_zero_shot_logits_match_open_clip(open_clip, shared_data, name):
    import torch

    spec = zoo.get(name)
    torch.manual_seed(0)
    model = open_clip.create_model(clip_models.OPEN_CLIP_ARCH[name], pretrained=None).eval()
    informative_random_state(model)
    errors = compare_with_open_clip(open_clip, model, spec, shared_data, clip_models.OPEN_CLIP_ARCH[name])
    assert max(errors.values()) <= RELATIVE_TOLERANCE, errors


SMALL_TEXT = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)


def small_convnext_clip(open_clip, timm, proj: str):
    """open_clip's CLIP with a shortened ConvNeXt tower and a small text tower, and the matching spec.

    open_clip builds the image tower from a timm model name only (``TimmModel``: ``timm.create_model(name)``, then
    ``reset_classifier(0)`` and its projection head), so the reference is open_clip's CLIP of a ``convnext_tiny``
    tower whose trunk is replaced by timm's convnext_tiny at depths (1, 1, 1, 1) put through the same
    ``reset_classifier(0)``: the module open_clip would build from a timm model of those depths. The text tower is
    small (2 layers, width 64); the full-size configurations differ only in width, depth and heads, which the ViT
    towers above cover. 64 px inputs keep the CPU time low.
    """
    import torch

    from parity_util import informative_random_state as informative_timm_state

    embed_dim, depths, dims = 32, (1, 1, 1, 1), (96, 192, 384, 768)
    torch.manual_seed(0)
    vision = dict(timm_model_name="convnext_tiny", timm_model_pretrained=False, timm_pool="", timm_proj=proj,
                  image_size=64)
    model = open_clip.CLIP(embed_dim=embed_dim, vision_cfg=vision, text_cfg=SMALL_TEXT, quick_gelu=False)
    trunk = timm.create_model("convnext_tiny", pretrained=False, depths=depths)
    trunk.reset_classifier(0)
    model.visual.trunk = trunk
    model.eval()
    informative_random_state(model)
    informative_timm_state(model.visual)  # also redraws the blocks' layer scales (timm initialises them to 1e-6)
    spec = zoo.ModelSpec(
        name=f"tiny_clip_convnext_{proj}.test", family="clip", num_params=0, output="probs",
        data=zoo.DataConfig(64, 1.0, "bicubic", clip_models.OPENAI_MEAN, clip_models.OPENAI_STD),
        config=zoo.config(embed_dim=embed_dim, quick_gelu=False, text=zoo.config(**SMALL_TEXT),
                          vision=zoo.config(depths=depths, dims=dims, proj=proj, image_size=64)))
    return model, spec


def test_convnext_mlp_tower_and_zero_shot_logits_match_open_clip(open_clip, timm_module, shared_data):
    """OpenCLIP's ConvNeXt tower with the MLP projection of ``convnext_large_d[_320]``: image and text features, head
    and zero-shot logits (see :func:`small_convnext_clip` for the reference)."""
    model, spec = small_convnext_clip(open_clip, timm_module, "mlp")
    errors = compare_with_open_clip(open_clip, model, spec, shared_data, "convnext_large_d")
    assert max(errors.values()) <= RELATIVE_TOLERANCE, errors


def test_convnext_linear_tower_image_features_match_open_clip(open_clip, timm_module, shared_data):
    """The linear projection of ``convnext_base_w_320``: image features (the text side and the head are those of the
    test above)."""
    import torch

    model, spec = small_convnext_clip(open_clip, timm_module, "linear")
    images = sample_images(shared_data, open_clip.image_transform(64, is_train=False), 2)
    with torch.inference_mode():
        reference = model.encode_image(images).numpy()
    params = convert_and_check(spec, model.state_dict(), with_head=False)
    variables = {"params": {**params, "zeroshot_head": jnp.zeros((32, 1000))}}
    features = models.build_module(spec).apply(variables, jnp.asarray(images.permute(0, 2, 3, 1).numpy()),
                                               method="encode_image")
    error = relative_error(reference, features)
    print("linear projection image features", error)
    assert error <= RELATIVE_TOLERANCE


@pytest.mark.parametrize("name", ["clip_convnext_large_d.laion2b_s26b_b102k_augreg",
                                  "clip_convnext_base_w_320.laion_aesthetic_s13b_b82k_augreg"])
def test_convnext_tower_flax_parameter_count(name):
    """The full-size Flax modules have open_clip's parameters (test_zoo checks the spec's count against open_clip's
    model), less the learned logit scale (the classifier uses the fixed scale 100), plus the zero-shot head."""
    spec = zoo.get(name)
    embed_dim = spec.config_dict()["embed_dim"]
    assert models.count_params(spec) == spec.num_params - 1 + embed_dim * 1000


def test_full_imagenet_head_with_a_small_text_tower(open_clip):
    """The converter's head: all 1000 classes x 80 templates through a small random text tower.

    The reference (open_clip's text tower, prompt by prompt ensemble in torch) covers every 10th class with all 80
    templates: 8,000 prompts keep the PyTorch side within the CPU budget while every template and the whole
    normalise-average-normalise path are compared.
    """
    import torch

    torch.manual_seed(0)
    vision = dict(layers=1, width=64, patch_size=32, image_size=64)
    text = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)
    model = open_clip.CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text, quick_gelu=False).eval()
    informative_random_state(model)
    spec = zoo.ModelSpec(name="tiny_clip.test", family="clip", num_params=0, output="probs",
                         data=zoo.DataConfig(64, 1.0, "bicubic", clip_models.OPENAI_MEAN, clip_models.OPENAI_STD),
                         config=zoo.config(embed_dim=32, quick_gelu=False,
                                           vision=zoo.config(layers=1, width=64, patch_size=32, image_size=64),
                                           text=zoo.config(**text)))
    params = convert_and_check(spec, model.state_dict(), with_head=True)
    assert params["zeroshot_head"].shape == (32, 1000)
    classnames, templates = heads.imagenet_metadata()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small batches: threading overhead dominates on a small shared CPU
    try:
        ref_head = torch_head(model, open_clip.get_tokenizer("ViT-B-16"), classnames[::10], templates)
    finally:
        torch.set_num_threads(threads)
    error = relative_error(ref_head, np.asarray(params["zeroshot_head"])[:, ::10])
    print("full head relative error", error)
    assert error <= RELATIVE_TOLERANCE


def test_tokens_identical_to_open_clip_on_every_prompt(open_clip):
    classnames, templates = heads.imagenet_metadata()
    prompts = [t(c) for c in classnames for t in templates]
    assert len(prompts) == 80_000
    ours, theirs = Tokenizer()(prompts), open_clip.get_tokenizer("ViT-B-16")(prompts).numpy()
    assert np.array_equal(ours, theirs), f"{(ours != theirs).any(axis=1).sum()} prompts differ"


def test_tokenizer_edge_cases_match_open_clip(open_clip):
    texts = ["Hello  World!! &amp; café naïve 12,345", "日本語のテキスト 😀", "a" * 300, "x " * 100, "",
             "it's the dog's toy, isn't it?"]
    assert np.array_equal(Tokenizer()(texts), open_clip.get_tokenizer("ViT-B-16")(texts).numpy())


def test_quba_paper_protocol_turns_zero_shot_logits_into_probabilities():
    from jaxquba import protocols

    spec = zoo.get("clip_vit_b32")
    logits = jnp.array([[2.0, 0.5, -1.0]])
    classifier = models.Classifier(spec, None, lambda params, x: logits, "digest")
    paper = protocols.model_outputs(classifier, protocols.get("quba_paper"))(None, None)
    pixel = protocols.model_outputs(classifier, protocols.get("pixel"))(None, None)
    np.testing.assert_allclose(paper, jax.nn.softmax(logits), rtol=1e-6)
    np.testing.assert_array_equal(pixel, logits)
