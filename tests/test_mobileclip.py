"""MobileCLIP-S1/S2/B parity with open_clip (random init, real images and real prompts).

open_clip builds MobileCLIP as a ``CustomTextCLIP``: a timm network under ``visual.trunk`` (its classifier is the
image projection) and a text transformer under ``text``. S1/S2: FastViT MCi and a bidirectional text tower; B (and
B-LT, the same architecture): timm's ``vit_base_mci_224`` (ViT-B/16 with a convolutional stem) and CLIP's causal
text tower. The small references keep those code paths: a reduced-depth MCi1 trunk (every unit: MobileOne stem,
large-kernel patch embeddings with squeeze-excite and GELU, RepMixer and attention blocks, positional encoding,
final conv) or a one-block ``vit_base_mci_224``, and a narrow two-layer text tower. Batch norms are calibrated on
the photos (parity_util.calibrate_batch_norms) so that image features depend on the image. Tolerance: test_clip's 1e-4 relative for image features, text features, the
zero-shot head and logits. The registered full-size configurations are checked by conversion (every tensor of
open_clip's model used, every shape right) and by parameter count.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxquba import models, zoo
from jaxquba.models import clip as clip_models
from jaxquba.models import fastvit
from jaxquba.zeroshot import heads
from jaxquba.zeroshot.tokenizer import Tokenizer
from parity_util import calibrate_batch_norms, informative_random_state
from test_clip import RELATIVE_TOLERANCE, convert_and_check, relative_error, sample_images, torch_head

SMALL_DEPTHS = (1, 1, 2, 1)
MCI1_DIMS = (64, 128, 256, 512)
ARCHITECTURES = ("mobileclip_s1.datacompdr", "mobileclip_s2.datacompdr", "mobileclip_b.datacompdr")


@pytest.fixture(scope="module")
def open_clip(timm_module):
    from converters.torch_env import import_open_clip
    return import_open_clip()


def small_reference(open_clip, timm, kind: str):
    """open_clip's MobileCLIP-S1 (``kind='s'``) or -B (``'b'``) structure at reduced size (seed 0): embed_dim 64,
    an MCi1 trunk of depths ``SMALL_DEPTHS`` or a one-block ``vit_base_mci_224``, a 2-layer 64-wide text tower
    (bidirectional for S, causal for B)."""
    import torch

    torch.manual_seed(0)
    causal = kind == "b"
    # The trunk built here is replaced below (fastvit_t8: the cheapest timm network to build first).
    vision = dict(timm_model_name="fastvit_t8", timm_model_pretrained=False, timm_pool="avg", timm_proj=None,
                  image_size=256)
    text = dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2, no_causal_mask=not causal)
    model = open_clip.CustomTextCLIP(embed_dim=64, vision_cfg=vision, text_cfg=text)
    if kind == "s":
        model.visual.trunk = timm.create_model("fastvit_mci1", pretrained=False, layers=SMALL_DEPTHS, num_classes=64,
                                               global_pool="avg")
        tower = zoo.config(tower="fastvit", **dict(fastvit.mci_config(SMALL_DEPTHS, MCI1_DIMS)))
    else:
        model.visual.trunk = timm.create_model("vit_base_mci_224", pretrained=False, depth=1, num_classes=64,
                                               global_pool="token")
        tower = zoo.config(**{**dict(dict(zoo.get("mobileclip_b").config)["vision"]), "depth": 1})
    spec = zoo.ModelSpec(name=f"mobileclip_{kind}_small.test", family="clip", num_params=0, output="probs",
                         data=zoo.get("mobileclip_s1" if kind == "s" else "mobileclip_b").data,
                         config=zoo.config(embed_dim=64, quick_gelu=False, vision=tower,
                                           text=zoo.config(context_length=77, vocab_size=49408, width=64, heads=2,
                                                           layers=2, **({} if causal else {"causal": False}))))
    return model.eval(), spec


@pytest.mark.parametrize("kind", ["s", "b"])
def test_small_mobileclip_matches_open_clip(open_clip, timm_module, shared_data, kind):
    import torch

    model, spec = small_reference(open_clip, timm_module, kind)
    informative_random_state(model)
    transform = open_clip.image_transform(spec.data.input_size, is_train=False, mean=spec.data.mean,
                                          std=spec.data.std, interpolation="bilinear", resize_mode="shortest")
    images = sample_images(shared_data, transform, 2)
    calibrate_batch_norms(model.visual.trunk, images)
    classnames, templates = heads.imagenet_metadata()
    classnames, templates = classnames[::100], templates[::20]  # 10 classes x 4 templates
    tokenizer = open_clip.get_tokenizer("MobileCLIP-S1" if kind == "s" else "MobileCLIP-B")
    prompts = [t(c) for c in classnames for t in templates]
    with torch.inference_mode():
        ref_image = model.encode_image(images).numpy()
        ref_text = model.encode_text(tokenizer(prompts), normalize=True).numpy()
    # the image matters, far above the tolerance (B: the drawn class token and position embedding dominate)
    assert np.abs(ref_image[0] - ref_image[1]).max() > 0.02 * np.abs(ref_image).max()
    ref_head = torch_head(model, tokenizer, classnames, templates)
    ref_logits = 100 * (ref_image / np.linalg.norm(ref_image, axis=1, keepdims=True)) @ ref_head

    params = convert_and_check(spec, model.state_dict(), with_head=False)
    module = models.build_module(spec)
    variables = {"params": {**params, "zeroshot_head": jnp.zeros((64, 1000))}}
    encode_text = jax.jit(lambda tokens: module.apply(variables, tokens, method="encode_text"))
    text_features = heads.encode_prompts(encode_text, prompts)  # trimmed tokens: the tower pads them back
    head = heads.class_embeddings(encode_text, classnames, templates)
    variables["params"]["zeroshot_head"] = variables["params"]["zeroshot_head"].at[:, :len(classnames)].set(head)

    @jax.jit
    def image_features_and_logits(x):
        return module.apply(variables, x, method="encode_image"), module.apply(variables, x)[:, :len(classnames)]

    image_features, logits = image_features_and_logits(jnp.asarray(images.permute(0, 2, 3, 1).numpy()))
    errors = {"image": relative_error(ref_image, image_features), "text": relative_error(ref_text, text_features),
              "head": relative_error(ref_head, head), "logits": relative_error(ref_logits, logits)}
    print(errors)
    assert max(errors.values()) <= RELATIVE_TOLERANCE, errors
    assert np.array_equal(Tokenizer()(prompts), tokenizer(prompts).numpy())
    if kind == "b":
        return

    # Without the causal mask the features depend on the padding after end-of-text: the tower restores the full
    # context length from trimmed tokens, so trimmed tokens (heads.trimmed) give the features of the full ones.
    tokens = Tokenizer()(prompts[:2])
    full = encode_text(jnp.asarray(tokens))
    np.testing.assert_array_equal(np.asarray(full), np.asarray(encode_text(jnp.asarray(heads.trimmed(tokens)))))
    cfg = spec.config_dict()
    causal = dataclasses.replace(spec, config=zoo.config(**{**cfg, "text": zoo.config(**{**dict(cfg["text"]),
                                                                                         "causal": True})}))
    masked = models.build_module(causal).apply(variables, jnp.asarray(tokens), method="encode_text")
    assert np.abs(np.asarray(masked) - np.asarray(full)).max() > 1e-3  # the mask matters for these weights


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_registered_mobileclip_counts(open_clip, name):
    """The published count is open_clip's minus the fused branches (timm's reparameterisation of the same model,
    as Apple's package runs it for the peer); the Flax module has those parameters, without open_clip's learned
    logit scale (the classifier uses the fixed 100) and with the 1000-class zero-shot head."""
    import torch
    from timm.utils.model import reparameterize_model

    spec = zoo.get(name)
    meta = open_clip.create_model(clip_models.OPEN_CLIP_ARCH[name], pretrained=None, device="meta").eval()
    unfused = sum(p.numel() for p in meta.parameters())
    with torch.device("meta"):
        fused = sum(p.numel() for p in reparameterize_model(meta).parameters())
    assert clip_models.REPARAMETERISED_AWAY.get(name, 0) == unfused - fused
    assert spec.num_params == fused
    assert models.count_params(spec) == fused - 1 + 512 * 1000


def test_open_clip_mobileclip_s1_state_dict_converts(open_clip):
    """The registered configuration takes open_clip's full-size state dict (training-time layout) completely, every
    shape right (the values are zeros: only the layout is checked here, the numerics above)."""
    import torch

    model = open_clip.create_model("MobileCLIP-S1", pretrained=None, device="meta").to_empty(device="cpu")
    with torch.no_grad():
        for value in model.state_dict().values():
            value.zero_()
    params = convert_and_check(zoo.get("mobileclip_s1"), model.state_dict(), with_head=False)
    assert params["visual"]["head_fc"]["kernel"].shape == (1024, 512)
