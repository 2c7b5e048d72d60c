"""CLIP's byte-level BPE tokenizer, producing the same token ids as open_clip's ``SimpleTokenizer``.

The merge list (``bpe_simple_vocab_16e6.txt.gz``) is read from the installed ``open_clip_torch`` package; it is
not part of jaxquba. Text is cleaned as open_clip does by default (ftfy repair, HTML unescaping twice, whitespace
collapsed, lower-cased), split into words by CLIP's regular expression, each word's UTF-8 bytes mapped to printable
characters, and the characters merged greedily by merge rank; the last symbol of a word carries ``</w>``.

Why not call open_clip's tokenizer (issue 17 asks for the library's tokenizer unless a measured reason says
otherwise; SigLIP's, a Hugging Face tokenizer, is called through open_clip, :mod:`converters.clip`): this one
needs neither torch nor torchvision at run time, so building a zero-shot head or running the error study's CLIP
rule imports no PyTorch (the demo and the app run without it), and it is faster. Measured 2026-12-03 on this
project's 2-core CPU, the 80,000 prompts of the ImageNet head (1,000 classes x 80 templates): 6.1 s here against
9.0 s for ``open_clip.get_tokenizer('ViT-B-32')``, whose import (torch, torchvision, timm, open_clip) adds 5.1 s;
the token ids were identical for all 80,000 (tests/test_clip.py keeps that identity tested).
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxquba.errors import UserError

CONTEXT_LENGTH = 77
_NUM_MERGES = 49152 - 256 - 2  # the merges CLIP's vocabulary uses (the file holds more)
_WORD_PATTERN = (r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+")


def _byte_alphabet() -> tuple[list[str], list[str]]:
    """(character of each byte value, the 256 characters in vocabulary order).

    Printable Latin-1 bytes map to themselves and come first in the vocabulary; the other bytes map to code points
    256, 257, ... in byte order and follow them.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    char = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}
    return [char[b] for b in range(256)], [char[b] for b in printable + others]


def vocabulary_file() -> Path:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("CLIP tokenization needs the BPE vocabulary shipped in open_clip_torch: "
                        "pip install open_clip_torch")
    return Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"


class Tokenizer:
    """``tokenizer(texts) -> int32 [len(texts), context_length]``: SOT, BPE ids, EOT, zero padding, truncation."""

    def __init__(self, merges_path: Path | None = None, context_length: int = CONTEXT_LENGTH):
        import regex

        lines = gzip.open(merges_path or vocabulary_file()).read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:_NUM_MERGES + 1]]
        byte_char, alphabet = _byte_alphabet()
        vocab = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
        vocab += ["<start_of_text>", "<end_of_text>"]
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._rank = {pair: i for i, pair in enumerate(merges)}
        self._byte_char = byte_char
        self._word_re = regex.compile(_WORD_PATTERN, regex.IGNORECASE)
        self.sot = self._ids["<start_of_text>"]
        self.eot = self._ids["<end_of_text>"]
        self.context_length = context_length

    @functools.lru_cache(maxsize=100_000)
    def _word_ids(self, word: str) -> tuple[int, ...]:
        if word in ("<start_of_text>", "<end_of_text>"):
            return (self._ids[word],)
        symbols = [self._byte_char[b] for b in word.encode("utf-8")]
        symbols[-1] += "</w>"
        while len(symbols) > 1:
            ranks = [self._rank.get(pair, np.inf) for pair in zip(symbols, symbols[1:])]
            best = int(np.argmin(ranks))
            if ranks[best] == np.inf:
                break
            first, second = symbols[best], symbols[best + 1]
            merged, i = [], 0
            while i < len(symbols):  # merge every occurrence of the best pair, left to right
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return tuple(self._ids[s] for s in symbols)

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without SOT/EOT."""
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        text = " ".join(text.split()).lower()
        return [i for word in self._word_re.findall(text) for i in self._word_ids(word)]

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(texts), self.context_length), np.int32)
        for row, text in enumerate(texts):
            ids = [self.sot, *self.encode(text), self.eot]
            if len(ids) > self.context_length:  # truncate but keep EOT last, as open_clip does
                ids = ids[:self.context_length - 1] + [self.eot]
            out[row, :len(ids)] = ids
        return out
