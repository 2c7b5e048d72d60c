"""Superclasses of the 1000 ImageNet classes, built reproducibly from WordNet 3.0.

The study's hand-written ``superclasses.json`` is not public. We replace it by a rule on the WordNet noun hierarchy
(the reasons and the measured agreement with the authors' decisions are in docs/ERROR_ANALYSIS.md):

* the *size* of a synset is the number of ImageNet classes among its hyponyms (itself included);
* on every hypernym path of a class, its *anchor* is the most general synset whose size is at most
  ``max_classes_organism`` if that synset is an organism and ``max_classes`` otherwise;
* the superclasses of a class are its anchors (several where WordNet gives several paths), named by their WNIDs;
  a class whose anchor is itself is alone in its superclass, which is the study's singleton ``{its WNID}``.

Two classes are in the same superclass when they share an anchor. Size thresholds are the only parameters; the
organism threshold is larger because WordNet's animal taxonomy is biological (every dog breed is a single hop below a
group such as ``terrier``), while the artifact taxonomy groups by function, so a visual "same kind of thing" sits
lower there.

For users who do have the authors' ``superclasses.json``, :func:`from_lemma_definitions` applies its lemma-name
predicates exactly as the study does.
"""

from __future__ import annotations

import collections
import functools
import json
from pathlib import Path
from typing import Sequence

from jaxquba.error_analysis.wordnet import imagenet_wnids, synset_of

MAX_CLASSES = 30
MAX_CLASSES_ORGANISM = 130


def _wnid(synset) -> str:
    return f"{synset.pos()}{synset.offset():08d}"


@functools.lru_cache(maxsize=4)
def hypernym_paths(wnids: tuple[str, ...] | None = None) -> tuple[tuple[tuple, ...], ...]:
    """All hypernym paths (root first, class last) of each class."""
    wnids = wnids or imagenet_wnids()
    return tuple(tuple(tuple(p) for p in synset_of(w).hypernym_paths()) for w in wnids)


def ancestors(wnids: tuple[str, ...] | None = None) -> list[frozenset]:
    """The synsets on all hypernym paths of each class, the class itself included (the study's 'synsets superset')."""
    return [frozenset(s for path in paths for s in path) for paths in hypernym_paths(wnids)]


def lemma_groups(wnids: tuple[str, ...] | None = None) -> dict[str, list[bool]]:
    """The study's class groups: 'organism' / 'artifact' = that lemma name is among the class's ancestors' lemmas."""
    lemmas = [{name for s in anc for name in s.lemma_names()} for anc in ancestors(wnids)]
    organism = [("organism" in names) for names in lemmas]
    artifact = [("artifact" in names) for names in lemmas]
    return {"all": [True] * len(lemmas), "organism": organism, "artifact": artifact,
            "other": [not (o or a) for o, a in zip(organism, artifact)]}


def from_wordnet(wnids: tuple[str, ...] | None = None, max_classes: int = MAX_CLASSES,
                 max_classes_organism: int = MAX_CLASSES_ORGANISM) -> list[frozenset[str]]:
    """The superclasses (anchor WNIDs) of each class under the size-cut rule of this module's docstring."""
    paths = hypernym_paths(wnids)
    size = collections.Counter(s for anc in ancestors(wnids) for s in anc)
    organism = synset_of("n00004475")  # organism.n.01
    result = []
    for class_paths in paths:
        anchors = set()
        for path in class_paths:  # size shrinks from root to class, so the first node within its limit is the anchor
            below_organism = [organism in path[: i + 1] for i in range(len(path))]
            anchors.add(next(_wnid(s) for s, org in zip(path, below_organism)
                             if size[s] <= (max_classes_organism if org else max_classes)))
        result.append(frozenset(anchors))
    return result


def from_lemma_definitions(path: str | Path, wnids: tuple[str, ...] | None = None) -> list[frozenset[str]]:
    """Superclasses from the study's ``superclasses.json`` (JSON lines ``{id: [[lemma, ...], ...]}``).

    A class is in superclass ``id`` if, for any predicate list, every lemma of the list is a lemma name of one of
    the class's ancestors; a class in none gets the singleton superclass ``{its WNID}``.
    """
    wnids = wnids or imagenet_wnids()
    definitions: list[tuple[str, list[list[str]]]] = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            definitions.extend(json.loads(line).items())
    result = []
    for wnid, anc in zip(wnids, ancestors(wnids)):
        names = {name for s in anc for name in s.lemma_names()}
        member = {sid for sid, predicates in definitions if any(all(l in names for l in pred) for pred in predicates)}
        result.append(frozenset(member or {wnid}))
    return result


def summary(superclasses: Sequence[frozenset[str]]) -> dict[str, float]:
    """Counts for the docs: number of superclasses, singletons and the sizes of the others."""
    members = collections.Counter(s for sc in superclasses for s in sc)
    sizes = sorted(n for n in members.values() if n > 1)
    return {"superclasses": len(members), "singletons": sum(n == 1 for n in members.values()),
            "largest": max(sizes), "median_size": sizes[len(sizes) // 2]}
