"""SigLIP / SigLIP 2 parity: small random-init open_clip ``CustomTextCLIP`` models (timm's ``map``-pooled ViT image
tower, open_clip's bidirectional text tower) converted to Flax, compared on real photos.

Tolerance: 1e-4 relative (tests/test_clip.py) for image features, text features, the zero-shot head and the
classifier's logits. SigLIP's tokenizer lives on the Hugging Face hub (no offline copy here), so the text side is
fed token ids directly; the tokenizer loader is tested for its offline error.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from converters import load
from jaxquba import models, protocols, zoo
from jaxquba.errors import UserError
from jaxquba.models import clip as clip_models
from jaxquba.zeroshot import heads
from parity_util import informative_random_state
from test_clip import RELATIVE_TOLERANCE, relative_error, sample_images

VOCAB, CONTEXT, WIDTH, TEXT_WIDTH = 1000, 64, 64, 48
CLASSES, TEMPLATES = 10, 4  # zero-shot head over 10 classes x 4 templates keeps the CPU time low


def small_spec(tanh_gelu: bool) -> zoo.ModelSpec:
    """A 2-block SigLIP (64 px, width 64) of the registered family, with a 10-class head."""
    base = zoo.get("siglip2_vit_b16_256.webli" if tanh_gelu else "siglip_vit_b16_256.webli")
    text = zoo.config(width=TEXT_WIDTH, layers=2, heads=2, context_length=CONTEXT, vocab_size=VOCAB,
                      tanh_gelu=tanh_gelu)
    vision = zoo.config(patch_size=16, embed_dim=WIDTH, depth=2, num_heads=2, img_size=64)
    return dataclasses.replace(base, name=f"{base.name}@small", aliases=(), num_params=0,
                               data=dataclasses.replace(base.data, input_size=64, num_classes=CLASSES),
                               config=zoo.config(embed_dim=WIDTH, vision=vision, text=text, num_classes=CLASSES))


def reference_model(open_clip, timm, tanh_gelu: bool):
    """open_clip's SigLIP model class with the registered configs' options, at the small size: open_clip's
    ``TimmModel`` builds timm's ``vit_base_patch16_siglip_256`` with its own arguments (no head, ``map`` pooling),
    narrowed and shortened here (open_clip passes no size options to timm)."""
    from unittest import mock

    import torch

    def small_trunk(name, **kwargs):
        return create_model(name, embed_dim=WIDTH, depth=2, num_heads=2, img_size=64, **kwargs)

    create_model = timm.create_model
    torch.manual_seed(0)
    text_cfg = dict(context_length=CONTEXT, vocab_size=VOCAB, width=TEXT_WIDTH, heads=2, layers=2,
                    no_causal_mask=True, proj_bias=True, pool_type="last", norm_kwargs={"eps": 1e-6},
                    act_kwargs={"approximate": "tanh"} if tanh_gelu else None)
    vision_cfg = dict(image_size=64, timm_model_name="vit_base_patch16_siglip_256", timm_model_pretrained=False,
                      timm_pool="map", timm_proj="none")
    with mock.patch.object(timm, "create_model", small_trunk):
        model = open_clip.CustomTextCLIP(embed_dim=WIDTH, vision_cfg=vision_cfg, text_cfg=text_cfg,
                                         init_logit_bias=-10)
    assert model.visual.trunk.embed_dim == WIDTH and len(model.visual.trunk.blocks) == 2
    informative_random_state(model)
    with torch.no_grad():
        model.logit_scale.fill_(2.3)  # exp: ~10, the trained models' order
        model.logit_bias.fill_(-3.7)
    return model.eval()


def fake_tokenizer(prompts):
    """Deterministic ids in SigLIP's layout: content ids, end-of-sequence 1, padding 0 to the full context."""
    out = np.zeros((len(prompts), CONTEXT), np.int32)
    for row, prompt in enumerate(prompts):
        ids = [2 + (b * 31 + i * 7) % (VOCAB - 2) for i, b in enumerate(prompt.encode())][:CONTEXT - 1] + [1]
        out[row, :len(ids)] = ids
    return out


@pytest.fixture(scope="module")
def open_clip(timm_module):
    from converters.torch_env import import_open_clip
    return import_open_clip()


@pytest.mark.parametrize("tanh_gelu", [False, True], ids=["siglip", "siglip2"])
def test_towers_head_and_logits_match_open_clip(open_clip, timm_module, shared_data, monkeypatch, tanh_gelu):
    import torch

    from converters import clip as clip_converter

    spec = small_spec(tanh_gelu)
    model = reference_model(open_clip, timm_module, tanh_gelu)
    transform = open_clip.image_transform(64, is_train=False, mean=spec.data.mean, std=spec.data.std,
                                          interpolation="bicubic", resize_mode="squash")
    images = sample_images(shared_data, transform, 2)
    classnames, templates = heads.imagenet_metadata()
    classnames, templates = classnames[::100], templates[::20]
    prompts = [t(c) for c in classnames for t in templates]
    tokens = fake_tokenizer(prompts)
    with torch.inference_mode():
        ref_image = model.encode_image(images).numpy()
        ref_text = model.encode_text(torch.from_numpy(tokens).long(), normalize=True).numpy()
        mean = torch.from_numpy(ref_text).reshape(CLASSES, TEMPLATES, -1).mean(dim=1)
        ref_head = (mean / mean.norm(dim=-1, keepdim=True)).T.numpy()
        normed = ref_image / np.linalg.norm(ref_image, axis=1, keepdims=True)
        ref_logits = normed @ ref_head * model.logit_scale.exp().item() + model.logit_bias.item()

    # The converter's whole path (the loader's strict check included), its head over these 10 x 4 prompts.
    monkeypatch.setattr(heads, "imagenet_metadata", lambda: (classnames, templates))
    monkeypatch.setattr(clip_converter, "siglip_tokenizer", lambda spec: fake_tokenizer)
    params = jax.tree.map(jnp.asarray, load.convert_state_dict(spec, model.state_dict(), "open_clip random init"))
    module = models.build_module(spec)
    x = jnp.asarray(images.permute(0, 2, 3, 1).numpy())
    image_features = module.apply({"params": params}, x, method="encode_image")
    text_features = heads.encode_prompts(
        lambda t: module.apply({"params": params}, t, method="encode_text"), prompts, fake_tokenizer, trim=False)
    logits = module.apply({"params": params}, x)

    errors = {"image": relative_error(ref_image, image_features), "text": relative_error(ref_text, text_features),
              "head": relative_error(ref_head, params["zeroshot_head"]), "logits": relative_error(ref_logits, logits)}
    print(spec.name, errors)
    assert max(errors.values()) <= RELATIVE_TOLERANCE, errors
    assert np.array_equal(np.argsort(-ref_logits, axis=1)[:, :5], np.argsort(-np.asarray(logits), axis=1)[:, :5])


def test_registered_models_are_the_peers_with_open_clips_parameter_counts():
    """The four published rows, their open_clip architectures (the peer's hf-hub:timm/<arch>), preprocessing and
    counts. The counts were taken from open_clip's random-init models (sum of parameter sizes, logit scale and bias
    included); here they are checked against the Flax modules' own shapes (without the zero-shot head)."""
    expected = {"siglip-b-16": ("ViT-B-16-SigLIP-256", 203_202_050), "siglip-l-16": ("ViT-L-16-SigLIP-256", 652_150_786),
                "ViT-B-16-SigLIP2": ("ViT-B-16-SigLIP2-256", 375_234_050),
                "ViT-L-16-SigLIP2-256": ("ViT-L-16-SigLIP2-256", 881_526_786)}
    for published, (arch, count) in expected.items():
        spec = zoo.get(zoo.resolve(published))
        assert clip_models.OPEN_CLIP_ARCH[spec.name] == arch and spec.hf_hub_id == f"timm/{arch}"
        assert spec.num_params == count and spec.output == "sigmoid_probs"
        assert spec.data == zoo.DataConfig(256, 1.0, "bicubic", (0.5,) * 3, (0.5,) * 3, crop_mode="squash")
        shapes = jax.eval_shape(models.build_module(spec).init, jax.random.PRNGKey(0),
                                jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32))["params"]
        shapes = {k: v for k, v in shapes.items() if k != "zeroshot_head"}
        assert sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes)) == count, published


def test_open_clip_configs_are_the_registered_ones(open_clip):
    """The registered text options (vocabulary, width, GELU form) are open_clip's own model configs'."""
    for name, arch in clip_models.OPEN_CLIP_ARCH.items():
        spec = zoo.get(name)
        if spec.family != "siglip":
            continue
        cfg = open_clip.get_model_config(arch)
        text, vision = dict(spec.config_dict()["text"]), dict(spec.config_dict()["vision"])
        assert cfg["embed_dim"] == spec.config_dict()["embed_dim"] == vision["embed_dim"]
        assert cfg["vision_cfg"]["image_size"] == vision["img_size"] == spec.data.input_size
        assert cfg["vision_cfg"]["timm_pool"] == "map" and cfg["vision_cfg"]["timm_proj"] == "none"
        t = cfg["text_cfg"]
        assert (t["context_length"], t["vocab_size"], t["width"], t["heads"], t["layers"]) == (
            text["context_length"], text["vocab_size"], text["width"], text["heads"], text["layers"])
        assert t["no_causal_mask"] and t["proj_bias"] and t["pool_type"] == "last" and t["norm_kwargs"]["eps"] == 1e-6
        assert (t.get("act_kwargs") == {"approximate": "tanh"}) == text["tanh_gelu"]


def test_tokenizer_without_its_hub_files_is_a_user_error(monkeypatch):
    """Offline (no transformers, or no cached hub files) the head cannot be built: a UserError names what is missing,
    with no network wait."""
    import importlib.util

    from converters import clip as clip_converter

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub.constants
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    except ImportError:
        pass
    spec = zoo.get("siglip_b16")
    if importlib.util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed: the offline error depends on the hub cache")
    with pytest.raises(UserError, match="transformers"):
        clip_converter.siglip_tokenizer(spec)


def test_quba_paper_protocol_gives_the_peers_sigmoid_probabilities():
    spec = zoo.get("siglip2_b16")
    logits = jnp.array([[2.0, 0.5, -11.0]])
    classifier = models.Classifier(spec, None, lambda params, x: logits, "digest")
    paper = protocols.model_outputs(classifier, protocols.get("quba_paper"))(None, None)
    pixel = protocols.model_outputs(classifier, protocols.get("pixel"))(None, None)
    np.testing.assert_allclose(paper, jax.nn.sigmoid(logits), rtol=1e-6)
    np.testing.assert_array_equal(pixel, logits)
