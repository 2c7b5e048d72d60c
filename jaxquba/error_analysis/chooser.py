"""The real CLIP behind rule 6 of the error analysis (:mod:`jaxquba.error_analysis.oov`).

:class:`ClipChooser` is the rule's ``Chooser``: for each query (image file name, prediction, target, proposal
prompts) it returns the index of the prompt whose CLIP text features have the largest cosine with the image's
features (CLIP's zero-shot argmax). It also gives the rule's gate its per-image neighbour classes
(:meth:`ClipChooser.neighbour_classes`): the top-k classes of CLIP's zero-shot ImageNet head. The study takes the
classes of the image's k = 10 nearest IN-train neighbours in CLIP ViT-L/14@336px feature space; the zero-shot top-k
needs no pass over the 1.28M training images and serves the same purpose (classes CLIP sees in the image).

Each image is encoded once and each prompt text once (both cached), because the same image is queried with many
predictions across models and the same prompts recur across (prediction, target) pairs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxquba.error_analysis.oov import Query
from jaxquba.models import Classifier, build_module, normalize
from jaxquba.models.clip import CLIP, l2_normalize
from jaxquba.zeroshot.heads import encode_prompts

DEFAULT_MODEL = "clip_vit_l14_336.openai"  # the study's CLIP
NEIGHBOURS = 10  # the study's k

# File name -> the image preprocessed for the CLIP model: uint8 HxWx3 of its input size.
ImageLookup = Callable[[str], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ClipEncoders:
    """The two towers of a CLIP model as host functions returning L2-normalised float32 features, and its
    zero-shot ImageNet head ``[embed_dim, 1000]``."""

    images: Callable[[np.ndarray], np.ndarray]  # uint8 [n, S, S, 3] -> [n, embed_dim]
    texts: Callable[[Sequence[str]], np.ndarray]  # prompts -> [n, embed_dim]
    class_head: np.ndarray


def clip_encoders(classifier: Classifier, batch_size: int = 16) -> ClipEncoders:
    """The towers of a loaded CLIP classifier (``load_classifier('clip_...')``). Images go through the jitted image
    tower in fixed batches of ``batch_size`` (padded), so it compiles once."""
    if classifier.spec.family != "clip":
        from jaxquba.errors import UserError
        raise UserError(f"{classifier.spec.name} is not a CLIP model; give a clip_* model name (see --list_models)")
    module = build_module(classifier.spec, classifier.precision)
    params = {"params": classifier.params}
    data = classifier.spec.data

    @jax.jit
    def encode_batch(images_uint8):
        x = normalize(images_uint8.astype(jnp.float32) / 255.0, data).astype(module.dtype)
        return l2_normalize(module.apply(params, x, method=CLIP.encode_image))

    def images(batch: np.ndarray) -> np.ndarray:
        padded = np.concatenate([batch, np.zeros((-len(batch) % batch_size, *batch.shape[1:]), batch.dtype)])
        parts = [np.asarray(encode_batch(padded[i:i + batch_size])) for i in range(0, len(padded), batch_size)]
        return np.concatenate(parts)[:len(batch)]

    def encode_text(tokens):
        return module.apply(params, tokens, method=CLIP.encode_text)

    return ClipEncoders(images, lambda prompts: encode_prompts(encode_text, prompts),
                        np.asarray(classifier.params["zeroshot_head"], np.float32))


class ClipChooser:
    """Rule 6's chooser (see the module docstring), with per-image and per-prompt feature caches.

    Args:
      encoders: the CLIP towers (:func:`clip_encoders`).
      image_lookup: file name -> the preprocessed image (:func:`source_image_lookup`).
    """

    def __init__(self, encoders: ClipEncoders, image_lookup: ImageLookup):
        self.encoders = encoders
        self.image_lookup = image_lookup
        self.image_cache: dict[str, np.ndarray] = {}
        self.prompt_cache: dict[str, np.ndarray] = {}

    def image_features(self, names: Sequence[str]) -> np.ndarray:
        """``[len(names), embed_dim]``; images not seen before are looked up and encoded in one call."""
        missing = [n for n in dict.fromkeys(names) if n not in self.image_cache]
        if missing:
            features = self.encoders.images(np.stack([self.image_lookup(n) for n in missing]))
            self.image_cache.update(zip(missing, features))
        return np.stack([self.image_cache[n] for n in names])

    def prompt_features(self, prompts: Sequence[str]) -> np.ndarray:
        """``[len(prompts), embed_dim]``; prompt texts not seen before are encoded in one call."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.prompt_cache]
        if missing:
            self.prompt_cache.update(zip(missing, self.encoders.texts(missing)))
        return np.stack([self.prompt_cache[p] for p in prompts])

    def __call__(self, queries: Sequence[Query]) -> list[int]:
        """Per query, the index of the proposal prompt with the largest cosine similarity to the image."""
        images = self.image_features([q.image for q in queries])
        self.prompt_features([p for q in queries for p in q.proposals.prompts])  # one text-tower call for all
        return [int(np.argmax(self.prompt_features(q.proposals.prompts) @ image))
                for q, image in zip(queries, images)]

    def neighbour_classes(self, names: Sequence[str], k: int = NEIGHBOURS) -> np.ndarray:
        """``int[len(names), k]``: each image's k most likely ImageNet classes under CLIP's zero-shot head, best
        first (the gate of rule 6)."""
        scores = self.image_features(names) @ self.encoders.class_head
        return np.argsort(-scores, axis=-1, kind="stable")[:, :k]


def source_image_lookup(source, transform: Callable[[np.ndarray], np.ndarray], file_names: Sequence[str]
                        ) -> ImageLookup:
    """Looks images up in ``source`` by file name: ``file_names[i]`` is the name of ``source[i]``; ``transform``
    preprocesses for the CLIP model (``make_eval_transform(clip_spec.data)``)."""
    index = {name: i for i, name in enumerate(file_names)}
    return lambda name: transform(source[index[name]]["image"])
