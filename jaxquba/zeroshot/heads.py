"""Zero-shot ImageNet heads: one embedding per class from CLIP's prompt ensemble.

For each of the 1,000 classes, the 80 OpenAI ImageNet prompt templates are filled with the CLIP class name, each
prompt's text features are L2-normalised, the 80 are averaged and the mean is normalised again. The class names and
templates are read from the installed ``open_clip_torch`` package (its ``zero_shot_metadata.py``, loaded as a plain
file so that torch is not imported). The head is part of the converted parameters, so the orbax parameter cache
keeps it per (model, weights): it is built once. SigLIP builds its head the same way with its own tokenizer
(open_clip's, see :func:`converters.clip.siglip_tokenizer`), as the peer does.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.zeroshot.tokenizer import Tokenizer, vocabulary_file

PROMPT_BATCH = 1000  # prompts per jitted text-tower call (fixed, so it compiles once)


@functools.lru_cache(maxsize=1)
def imagenet_metadata() -> tuple[tuple[str, ...], tuple[Callable[[str], str], ...]]:
    """(the 1,000 CLIP ImageNet class names, the 80 OpenAI prompt templates) from open_clip's metadata file."""
    path = Path(vocabulary_file()).parent / "zero_shot_metadata.py"
    spec = importlib.util.spec_from_file_location("_open_clip_zero_shot_metadata", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.IMAGENET_CLASSNAMES), tuple(module.OPENAI_IMAGENET_TEMPLATES)


def trimmed(tokens: np.ndarray) -> np.ndarray:
    """Drops the all-padding columns at the end: exact for a causal text tower read at end-of-text."""
    used = int((tokens != 0).any(axis=0).nonzero()[0].max()) + 1
    return tokens[:, :used]


Tokenize = Callable[[Sequence[str]], np.ndarray]  # prompts -> int token ids [len(prompts), context_length]


def encode_prompts(encode_text: Callable[[jax.Array], jax.Array], prompts: Sequence[str],
                   tokenizer: Tokenize | None = None, trim: bool = True) -> np.ndarray:
    """L2-normalised text features [len(prompts), embed_dim] of ``encode_text(tokens)`` (a jittable function).

    ``tokenizer``: CLIP's BPE by default. ``trim``: drop trailing all-padding columns first (exact only for CLIP's
    causal, end-of-text-read tower; SigLIP's bidirectional tower read at the last position needs ``trim=False``).
    """
    tokens = (tokenizer or Tokenizer())(prompts)
    tokens = trimmed(tokens) if trim else np.asarray(tokens)
    batch = min(PROMPT_BATCH, len(tokens))
    padded = np.concatenate([tokens, np.zeros((-len(tokens) % batch, tokens.shape[1]), tokens.dtype)])
    encode = jax.jit(lambda t: _normalize(encode_text(t)))
    chunks = [np.asarray(encode(jnp.asarray(padded[i:i + batch]))) for i in range(0, len(padded), batch)]
    return np.concatenate(chunks)[:len(tokens)]


def class_embeddings(encode_text: Callable[[jax.Array], jax.Array], classnames: Sequence[str] | None = None,
                     templates: Sequence[Callable[[str], str]] | None = None, tokenizer: Tokenize | None = None,
                     trim: bool = True) -> np.ndarray:
    """The zero-shot head [embed_dim, num_classes]: per class, the renormalised mean of its prompt features
    (``tokenizer`` and ``trim`` as in :func:`encode_prompts`)."""
    default_names, default_templates = imagenet_metadata()
    classnames = default_names if classnames is None else classnames
    templates = default_templates if templates is None else templates
    prompts = [template(name) for name in classnames for template in templates]
    features = encode_prompts(encode_text, prompts, tokenizer, trim).reshape(len(classnames), len(templates), -1)
    return np.asarray(_normalize(jnp.asarray(features.mean(axis=1)))).T


def _normalize(x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)
