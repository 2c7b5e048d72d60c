"""OpenCLIP / OpenAI CLIP state dicts -> :mod:`jaxquba.models.clip` parameters, zero-shot head included.

Both code bases name tensors the same way (``visual.*``, ``transformer.resblocks.*``, ``token_embedding``, ...);
OpenAI's original checkpoints add three integer entries (input resolution, context length, vocabulary size) that
carry no weights. OpenCLIP's ConvNeXt towers hold timm's ConvNeXt under ``visual.trunk.`` (read by
:mod:`converters.convnext`, without ``head.fc``) and open_clip's projection under ``visual.head.``. MobileCLIP
(open_clip's ``CustomTextCLIP``) keeps the text tower under ``text.`` and its FastViT image tower, a whole timm
network whose classifier is the projection, under ``visual.trunk.``: its training-time branches are fused by
:mod:`converters.fastvit` (MobileCLIP-B: timm's ViT there, read by :mod:`converters.vit`). The zero-shot head is not in any checkpoint: it is computed here with the converted text
tower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters import convnext, fastvit, vit
from converters import torch_layout as tl
from converters.state_dict import PrefixedReader, StateDictReader
from jaxquba import models, zoo

OPENAI_METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")


def _attention(read: StateDictReader, prefix: str) -> dict[str, Any]:
    """``nn.MultiheadAttention`` (fused in_proj, out_proj) -> :class:`~jaxquba.models.layers.SelfAttention`."""
    return {"qkv": {"kernel": read(f"{prefix}.in_proj_weight").T, "bias": read(f"{prefix}.in_proj_bias")},
            "proj": tl.linear(read, f"{prefix}.out_proj")}


def _blocks(read: StateDictReader, prefix: str, count: int) -> dict[str, Any]:
    return {f"blocks_{i}": {"ln_1": tl.layer_norm(read, f"{prefix}.{i}.ln_1"),
                            "attn": _attention(read, f"{prefix}.{i}.attn"),
                            "ln_2": tl.layer_norm(read, f"{prefix}.{i}.ln_2"),
                            "c_fc": tl.linear(read, f"{prefix}.{i}.mlp.c_fc"),
                            "c_proj": tl.linear(read, f"{prefix}.{i}.mlp.c_proj")} for i in range(count)}


def _vision_transformer(read: StateDictReader, cfg: dict[str, Any]) -> dict[str, Any]:
    return {"conv1": tl.conv2d(read, "visual.conv1", bias=False),
            "class_embedding": read("visual.class_embedding"),
            "positional_embedding": read("visual.positional_embedding"),
            "ln_pre": tl.layer_norm(read, "visual.ln_pre"),
            **_blocks(read, "visual.transformer.resblocks", cfg["layers"]),
            "ln_post": tl.layer_norm(read, "visual.ln_post"),
            "proj": read("visual.proj")}


def _modified_resnet(read: StateDictReader, cfg: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i in (1, 2, 3):
        params[f"conv{i}"] = tl.conv2d(read, f"visual.conv{i}", bias=False)
        params[f"bn{i}"] = tl.batch_norm(read, f"visual.bn{i}")
    for stage, blocks in enumerate(cfg["stage_blocks"], 1):
        for b in range(blocks):
            p = f"visual.layer{stage}.{b}"
            block = {}
            for i in (1, 2, 3):
                block[f"conv{i}"] = tl.conv2d(read, f"{p}.conv{i}", bias=False)
                block[f"bn{i}"] = tl.batch_norm(read, f"{p}.bn{i}")
            if f"{p}.downsample.0.weight" in read:
                block["downsample_conv"] = tl.conv2d(read, f"{p}.downsample.0", bias=False)
                block["downsample_bn"] = tl.batch_norm(read, f"{p}.downsample.1")
            params[f"layer{stage}_{b}"] = block
    pool = {"positional_embedding": read("visual.attnpool.positional_embedding")}
    for name in ("q_proj", "k_proj", "v_proj", "c_proj"):
        pool[name] = tl.linear(read, f"visual.attnpool.{name}")
    params["attnpool"] = pool
    return params


def _convnext_tower(read: StateDictReader, cfg: dict[str, Any]) -> dict[str, Any]:
    params = {"trunk": convnext.convert_network(PrefixedReader(read, "visual.trunk."), cfg, classifier=False)}
    if cfg["proj"] == "linear":
        params["head_proj"] = tl.linear(read, "visual.head.proj", bias=False)
    else:  # "mlp": timm's Mlp, the second Linear without bias
        params["head_fc1"] = tl.linear(read, "visual.head.mlp.fc1")
        params["head_fc2"] = tl.linear(read, "visual.head.mlp.fc2", bias=False)
    return params


def convert_towers(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Image and text tower parameters (no zero-shot head)."""
    cfg = spec.config_dict()
    vision, text = dict(cfg["vision"]), dict(cfg["text"])
    for key in OPENAI_METADATA_KEYS + ("logit_scale",):  # the classifier uses the fixed scale 100, see models.clip
        if key in read:
            read(key)
    tower = vision.pop("tower", None)
    if tower == "fastvit":  # MobileCLIP-S1/S2: open_clip's TimmModel, the whole timm network under visual.trunk
        visual = fastvit.convert_config(read, vision, prefix="visual.trunk.")
    elif tower == "timm_vit":  # MobileCLIP-B: the same around timm's ViT, whose head is the projection
        visual = {**vit.convert_features(read, vision, prefix="visual.trunk."),
                  "head": tl.linear(read, "visual.trunk.head")}
    elif "stage_blocks" in vision:
        visual = _modified_resnet(read, vision)
    elif "depths" in vision:
        visual = _convnext_tower(read, vision)
    else:
        visual = _vision_transformer(read, vision)
    # open_clip's CustomTextCLIP (MobileCLIP) keeps the same text transformer under ``text.``
    t = "text." if "text.token_embedding.weight" in read else ""
    transformer = {"token_embedding": read(f"{t}token_embedding.weight"),
                   "positional_embedding": read(f"{t}positional_embedding"),
                   **_blocks(read, f"{t}transformer.resblocks", text["layers"]),
                   "ln_final": tl.layer_norm(read, f"{t}ln_final"),
                   "text_projection": read(f"{t}text_projection")}
    return {"visual": visual, "transformer": transformer}


def convert(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    from jaxquba.zeroshot.heads import class_embeddings

    params = convert_towers(read, spec)
    if read.missing:  # the head needs a complete text tower; check_conversion reports what is missing
        return params
    module = models.build_module(spec)
    embed_dim, num_classes = spec.config_dict()["embed_dim"], spec.data.num_classes
    towers = {**params, "zeroshot_head": np.zeros((embed_dim, num_classes), np.float32)}  # placeholder while building
    head = class_embeddings(lambda tokens: module.apply({"params": towers}, tokens, method="encode_text"))
    return {**params, "zeroshot_head": np.asarray(head, np.float32)}


# --- SigLIP / SigLIP 2 ------------------------------------------------------------------------------------------------

def convert_siglip_towers(read: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """open_clip ``CustomTextCLIP`` state dicts of SigLIP: ``visual.trunk.*`` (timm's ViT, converted by
    :func:`converters.vit.convert_features`), ``text.*`` (open_clip's ``TextTransformer``, CLIP's names with a
    biased ``text_projection`` Linear), ``logit_scale`` and ``logit_bias``. No zero-shot head."""
    from converters import vit as vit_converter

    cfg = spec.config_dict()
    vision = {"class_token": False, "global_pool": "map", **dict(cfg["vision"])}
    text = dict(cfg["text"])
    return {"visual": vit_converter.convert_features(read, vision, "visual.trunk."),
            "transformer": {"token_embedding": read("text.token_embedding.weight"),
                            "positional_embedding": read("text.positional_embedding"),
                            **_blocks(read, "text.transformer.resblocks", text["layers"]),
                            "ln_final": tl.layer_norm(read, "text.ln_final"),
                            "text_projection": tl.linear(read, "text.text_projection")},
            "logit_scale": np.asarray(read("logit_scale"), np.float32).reshape(()),
            "logit_bias": np.asarray(read("logit_bias"), np.float32).reshape(())}


def siglip_tokenizer(spec: zoo.ModelSpec):
    """``tokenize(prompts) -> int32 [len(prompts), context_length]``: open_clip's tokenizer of the weights' hub
    repository, ``open_clip.get_tokenizer('hf-hub:<hf_hub_id>')``, exactly as the peer builds its SigLIP heads
    (SigLIP: the T5 sentencepiece vocabulary of ``timm/ViT-B-16-SigLIP``; SigLIP 2: Gemma's), with open_clip's
    ``canonicalize`` text cleaning. jaxquba keeps no tokenizer of its own for these: the vocabulary files live on the
    Hugging Face hub (downloaded once into its cache) and need ``transformers``; without them this raises a
    :class:`~jaxquba.errors.UserError` saying what is missing.
    """
    import importlib.util

    from jaxquba.errors import UserError

    source = f"hf-hub:{spec.hf_hub_id}"
    if importlib.util.find_spec("transformers") is None:
        raise UserError(f"{spec.name}: SigLIP's zero-shot head needs open_clip's Hugging Face tokenizer ({source}), "
                        "which needs the transformers package: pip install transformers sentencepiece")
    from converters.torch_env import import_open_clip

    open_clip = import_open_clip()
    try:
        tokenizer = open_clip.get_tokenizer(source)
    except Exception as error:  # offline without a cached copy, hub unreachable, files missing
        raise UserError(f"{spec.name}: could not load open_clip's tokenizer {source} ({type(error).__name__}: "
                        f"{error}); its vocabulary comes from the Hugging Face hub: run once online, or copy the "
                        "hub cache (HF_HOME) from a machine that has it") from error
    context_length = dict(spec.config_dict()["text"])["context_length"]
    return lambda prompts: tokenizer(list(prompts), context_length=context_length).numpy().astype(np.int32)


def convert_siglip(read: StateDictReader, spec: zoo.ModelSpec, tokenizer=None) -> dict[str, Any]:
    """Both towers, the learnt logit scale and bias, and the zero-shot head from the converted text tower: the 80
    OpenAI templates x 1000 CLIP class names (the peer's lists, identical to open_clip's), each prompt tokenised to
    the full 64-token context (no trimming: the tower is bidirectional and read at the last position).
    ``tokenizer`` defaults to :func:`siglip_tokenizer`."""
    from jaxquba.zeroshot.heads import class_embeddings

    params = convert_siglip_towers(read, spec)
    if read.missing:
        return params
    tokenizer = tokenizer or siglip_tokenizer(spec)
    module = models.build_module(spec)
    embed_dim, num_classes = spec.config_dict()["embed_dim"], spec.data.num_classes
    towers = {**params, "zeroshot_head": np.zeros((embed_dim, num_classes), np.float32)}
    head = class_embeddings(lambda tokens: module.apply({"params": towers}, tokens, method="encode_text"),
                            tokenizer=tokenizer, trim=False)
    return {**params, "zeroshot_head": np.asarray(head, np.float32)}
