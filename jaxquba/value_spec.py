"""The one grammar that names every measured value: ``metric@dataset[key=value,...]``.

``metric`` is what was measured (``top1``, ``c_rob``, ``top1_acc/PGD-40/low``), ``dataset`` the canonical dataset
it was measured on (a tfds name, ``folder:PATH``, ``demo``), and the optional bracket holds the conditions in the
order the producer gave them (``protocol=quba_paper@v2``, ``view=fgsm(eps=8,space=network_input)``). A condition's value
may itself hold commas and ``=`` inside parentheses: the bracket is split only at top-level commas.

Stores written before this grammar was the only one also hold two older forms, which :func:`parse` still reads:
``metric@dataset(view)`` (the generalization study's views) and ``metric@first+N more`` (a mean over N + 1 sets).
"""

from __future__ import annotations

import re

_OLD_MORE = re.compile(r"^(?P<dataset>.*)\+(?P<more>\d+) more$")


def render(metric: str, dataset: str, **conditions: object) -> str:
    """``metric@dataset[k=v,...]`` (no bracket without conditions)."""
    if "@" in metric or not metric or not dataset:
        raise ValueError(f"value spec: metric {metric!r} must be non-empty without '@', dataset {dataset!r} non-empty")
    body = ",".join(f"{k}={v}" for k, v in conditions.items())
    return f"{metric}@{dataset}" + (f"[{body}]" if body else "")


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside any brackets (a list of specs that have commas inside)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c in "([{"
        depth -= c in ")]}"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _trailing_group(text: str, open_: str, close: str) -> int | None:
    """Index of the ``open_`` that balances a trailing ``close``, or None."""
    if not text.endswith(close):
        return None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += text[i] == close
        depth -= text[i] == open_
        if depth == 0:
            return i
    return None


def parse(spec: str) -> dict[str, str]:
    """``{"metric", "dataset", **conditions}`` of a value spec in the current grammar or an older one.

    Raises ValueError for a string that is not a value spec (no ``@``)."""
    metric, at, rest = spec.partition("@")
    if not at or not metric or not rest:
        raise ValueError(f"not a value spec (metric@dataset[...]): {spec!r}")
    conditions: dict[str, str] = {}
    bracket = _trailing_group(rest, "[", "]")
    if bracket:
        for item in split_top_level(rest[bracket + 1:-1]):
            key, _, value = item.partition("=")
            conditions[key] = value
        rest = rest[:bracket]
    else:
        more = _OLD_MORE.match(rest)
        paren = _trailing_group(rest, "(", ")")
        if more:
            rest, conditions["sets"] = more.group("dataset"), str(int(more.group("more")) + 1)
        elif paren:
            rest, conditions["view"] = rest[:paren], rest[paren + 1:-1]
    return {"metric": metric, "dataset": rest, **conditions}


def common_dataset(datasets) -> str:
    """The shared prefix of several datasets' names up to a separator (``imagenet2012_corrupted/x_1`` and
    ``.../y_5`` -> ``imagenet2012_corrupted``): the dataset of a value averaged over all of them."""
    names = sorted(datasets)
    first, last = names[0], names[-1]
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    prefix = first[:i] if len(names) > 1 else first
    cut = max(prefix.rfind("/"), prefix.rfind(":"))
    return prefix if len(names) == 1 else (prefix[:cut] if cut > 0 else prefix.rstrip("_-")) or first
