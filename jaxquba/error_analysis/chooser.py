"""The real CLIP behind rule 6 of the error analysis (:mod:`jaxquba.error_analysis.oov`).

:class:`ClipChooser` is the rule's ``Chooser``: for each query (image file name, prediction, target, proposal
prompts) it returns the index of the prompt whose CLIP text features have the largest cosine with the image's
features (CLIP's zero-shot argmax). It also gives the rule's gate its per-image neighbour classes
(:meth:`ClipChooser.neighbour_classes`): the top-k classes of CLIP's zero-shot ImageNet head. The study takes the
classes of the image's k = 10 nearest IN-train neighbours in CLIP ViT-L/14@336px feature space; the zero-shot top-k
needs no pass over the 1.28M training images and serves the same purpose (classes CLIP sees in the image).

The image features are not computed here: the error study's dimension declares a pass of the CLIP model (outputs
``image_embedding``) over its reference dataset, which the app plans, stores and resumes like any other pass and
shares between every evaluated model. Each prompt text is encoded once (cached), because the same prompts recur
across (prediction, target) pairs.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np

from jaxquba.error_analysis.oov import Query
from jaxquba.models import Classifier, build_module
from jaxquba.models.clip import CLIP
from jaxquba.zeroshot.heads import encode_prompts

DEFAULT_MODEL = "clip_vit_l14_336.openai"  # the study's CLIP
NEIGHBOURS = 10  # the study's k


@dataclasses.dataclass(frozen=True)
class ClipText:
    """A CLIP model's text tower as a host function returning L2-normalised float32 features, and its zero-shot
    ImageNet head ``[embed_dim, 1000]``."""

    encode: Callable[[Sequence[str]], np.ndarray]  # prompts -> [n, embed_dim]
    class_head: np.ndarray


def clip_text(classifier: Classifier) -> ClipText:
    """The text side of a loaded CLIP classifier (``load_classifier('clip_...')``)."""
    if classifier.spec.family != "clip":
        from jaxquba.errors import UserError
        raise UserError(f"{classifier.spec.name} is not a CLIP model; give a clip_* model name (see --list_models)")
    module = build_module(classifier.spec, classifier.precision)
    params = {"params": classifier.params}

    def encode_text(tokens):
        return module.apply(params, tokens, method=CLIP.encode_text)

    return ClipText(lambda prompts: encode_prompts(encode_text, prompts),
                    np.asarray(classifier.params["zeroshot_head"], np.float32))


class ClipChooser:
    """Rule 6's chooser (see the module docstring), with a per-prompt feature cache.

    Args:
      image_features: file name -> the image's L2-normalised CLIP features (the stored ``image_embedding`` pass of
        the CLIP model over the reference dataset).
      text: the CLIP text tower and zero-shot head (:func:`clip_text`).
    """

    def __init__(self, image_features: Mapping[str, np.ndarray], text: ClipText):
        self.image_features_of = image_features
        self.text = text
        self.prompt_cache: dict[str, np.ndarray] = {}

    def image_features(self, names: Sequence[str]) -> np.ndarray:
        """``[len(names), embed_dim]``."""
        return np.stack([self.image_features_of[n] for n in names])

    def prompt_features(self, prompts: Sequence[str]) -> np.ndarray:
        """``[len(prompts), embed_dim]``; prompt texts not seen before are encoded in one call."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.prompt_cache]
        if missing:
            self.prompt_cache.update(zip(missing, self.text.encode(missing)))
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
        scores = self.image_features(names) @ self.text.class_head
        return np.argsort(-scores, axis=-1, kind="stable")[:, :k]
