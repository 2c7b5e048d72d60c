"""Rule 6 of the classifier: fine-grained out-of-vocabulary errors, decided by a zero-shot CLIP choice.

For an error (image, prediction p, target t) whose CLIP nearest training neighbours include a class in one of p's
superclasses, a list of WordNet proposals is built for (p, t) (PROTOCOLS.md P3.3 rule 6): p's synset, every ImageNet
class sharing a superclass with p, p's direct siblings that are not ancestors of t, and p's ancestors from the first
meta-label node down, skipping ancestors of t. Each synset becomes one prompt ``A photo of a {lemma}`` per lemma. CLIP
picks the best prompt for the image; if that prompt's synset is not an ImageNet class, the error is OOV.

The CLIP model is not part of this module: a :data:`Chooser` receives the queries and returns, per query, the index
of the prompt it prefers. Proposal lists are cached per (p, t) and choices per (image, p) — the target is fixed per
image — so each distinct error is shown to CLIP once across all models.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from jaxquba.error_analysis.wordnet import imagenet_wnids, synset_of

PROMPT_TEMPLATE = "A photo of a {}"
META_LABELS = frozenset({"device", "dog", "commodity", "bird", "structure", "covering", "wheeled_vehicle", "food",
                         "equipment", "insect", "vehicle", "furniture", "primate", "vessel", "snake", "natural_object",
                         "organism", "geological_formation", "clothing", "container"})


@dataclasses.dataclass(frozen=True)
class Proposals:
    """Prompts and the WordNet offset of the synset behind each prompt."""

    prompts: tuple[str, ...]
    offsets: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Query:
    """One error to show CLIP: the image (its file name), the prediction, the target and the proposal list."""

    image: str
    prediction: int
    target: int
    proposals: Proposals


# Receives queries, returns the index of the preferred prompt of each (argmax of CLIP's zero-shot scores).
Chooser = Callable[[Sequence[Query]], Sequence[int]]


def proposal_synsets(prediction_wnid: str, target_wnid: str, same_superclass_wnids: Sequence[str]) -> list:
    """The de-duplicated proposal synsets for (p, t), in the order (a) p, (b) same-superclass classes, (c) siblings,
    (d) meta-label ancestors."""
    p, t = synset_of(prediction_wnid), synset_of(target_wnid)
    target_ancestors = {s for path in t.hypernym_paths() for s in path}
    found = [p, *(synset_of(w) for w in same_superclass_wnids)]
    for parent in p.hypernyms():
        found += [s for s in parent.hyponyms() if s not in target_ancestors]
    for path in p.hypernym_paths():
        start = next((i for i, s in enumerate(path) if META_LABELS & set(s.lemma_names())), None)
        if start is not None:
            found += [s for s in path[start:-1] if s not in target_ancestors]
    return list(dict.fromkeys(found))


def proposals_for(prediction_wnid: str, target_wnid: str, same_superclass_wnids: Sequence[str]) -> Proposals:
    prompts, offsets = [], []
    for synset in proposal_synsets(prediction_wnid, target_wnid, same_superclass_wnids):
        for lemma in synset.lemma_names():
            prompts.append(PROMPT_TEMPLATE.format(lemma.lower().replace("_", " ")))
            offsets.append(synset.offset())
    return Proposals(tuple(prompts), tuple(offsets))


class OOVRule:
    """Decides rule 6 for batches of errors, with the two caches of the module docstring.

    Args:
      chooser: the zero-shot CLIP choice (see :data:`Chooser`).
      same_superclass: ``bool[1000, 1000]`` relation (for the proposal lists and the neighbour gate).
      neighbour_classes: ``int[n_images, k]`` classes of each image's CLIP nearest training neighbours (the study
        uses k = 10 of CLIP ViT-L/14@336px); the rule applies only where one of them shares a superclass with p.
    """

    def __init__(self, chooser: Chooser, same_superclass: np.ndarray, neighbour_classes: np.ndarray,
                 wnids: Sequence[str] | None = None):
        self.chooser = chooser
        self.same_superclass = same_superclass
        self.neighbour_classes = np.asarray(neighbour_classes)
        self.wnids = tuple(wnids or imagenet_wnids())
        self.in_vocabulary = frozenset(int(w[1:]) for w in self.wnids)
        self.proposal_cache: dict[tuple[int, int], Proposals] = {}
        self.decision_cache: dict[tuple[str, int], bool] = {}

    def gate(self, predictions: np.ndarray) -> np.ndarray:
        """``bool[..., n_images]``: some neighbour class shares a superclass with the prediction."""
        return self.same_superclass[self.neighbour_classes, predictions[..., None]].any(-1)

    def proposals(self, prediction: int, target: int) -> Proposals:
        key = (prediction, target)
        if key not in self.proposal_cache:
            peers = [self.wnids[c] for c in np.flatnonzero(self.same_superclass[prediction]) if c != prediction]
            self.proposal_cache[key] = proposals_for(self.wnids[prediction], self.wnids[target], peers)
        return self.proposal_cache[key]

    def decide(self, images: Sequence[str], predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``bool[len(images)]``: CLIP prefers an out-of-vocabulary proposal for each (image, prediction)."""
        keys = [(image, int(p)) for image, p in zip(images, predictions)]
        missing = list(dict.fromkeys(k for k in keys if k not in self.decision_cache))
        target_of = {image: int(t) for image, t in zip(images, targets)}
        queries = [Query(image, p, target_of[image], self.proposals(p, target_of[image])) for image, p in missing]
        if queries:
            choices = self.chooser(queries)
            for query, choice in zip(queries, choices, strict=True):
                offset = query.proposals.offsets[int(choice)]
                self.decision_cache[(query.image, query.prediction)] = offset not in self.in_vocabulary
        return np.array([self.decision_cache[k] for k in keys], bool)
