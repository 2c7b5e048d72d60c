"""The QUBA score (PROTOCOLS.md P1.4): one number from the nine quality dimensions, and ranks among the 326
models published with "Beyond Accuracy".

    z_k  = (v_k − μ_k) / σ_k            μ, σ: fixed constants of the paper, not recomputed from any population
    QUBA = Σ_k w_k · s_k · z_k / Σ_k w_k  s_k = −1 for Cal. Err. and Params (lower is better), +1 otherwise

Weights are **magnitudes**: a user weight says how much a dimension counts, and the direction s_k stays fixed,
so ``cal=2`` rewards *low* calibration error twice as much. (The project web page instead takes signed weights
divided by Σ|w|; with the default weights both give the same score.) Negative weights are refused.

Command line::

    python -m jaxquba.quba --table=results.csv [--quba_weights=acc=1,adv=0.5] [--json=out.json]

scores every row of a CSV that has a ``model`` column and the nine dimension columns of the published table,
named short (``Acc, Adv. Rob., C-Rob., OOD Rob., Cal. Err., Class Balance, Obj. Foc., Shape Bias, Params``) or long
(``Accuracy, Adversarial Robustness, ..., Parameters``), in any case; Params in millions, the rest as fractions.
It prints the ranking and each model's rank among the published models; every row keeps its identity (``row``: the
table's own ``row`` column where it has one, else its position from 0), since names need not be unique (the
published table has 326 rows and 211 distinct names).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

import numpy as np
import pandas as pd

from jaxquba.errors import UserError, closest


@dataclass(frozen=True)
class Dimension:
    column: str           # column name in result tables and in the published table
    key: str              # name in --quba_weights
    mean: float           # μ of P1.4
    std: float            # σ of P1.4
    direction: int        # +1: higher is better; −1: lower is better
    default_weight: float
    long_name: str        # the name spelled out (the project web page's table and plot axes)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("Acc", "acc", 0.7990557251908397, 0.034685710545946026, +1, 1.0, "Accuracy"),
    Dimension("Adv. Rob.", "adv", 0.18583778826016084, 0.11083062192390095, +1, 1 / 3, "Adversarial Robustness"),
    Dimension("C-Rob.", "crob", 0.5298791080592711, 0.23383978329969085, +1, 1 / 3, "Corruption Robustness"),
    Dimension("OOD Rob.", "ood", 0.5664841617855405, 0.14548627504237352, +1, 1 / 3, "OOD Robustness"),
    Dimension("Cal. Err.", "cal", 0.004479927389289115, 0.0026752085291489288, -1, 1.0, "Calibration Error"),
    Dimension("Class Balance", "balance", 0.783356376851669, 0.024047971612660052, +1, 1.0, "Class Balance"),
    Dimension("Obj. Foc.", "focus", 0.9286352601551336, 0.017724144886557092, +1, 1 / 2, "Object Focus"),
    Dimension("Shape Bias", "shape", 0.30548520497464765, 0.08354531823072534, +1, 1 / 2, "Shape Bias"),
    Dimension("Params", "params", 55.28778625954198, 42.8890536095964, -1, 1.0, "Parameters"),
)
COLUMNS: tuple[str, ...] = tuple(d.column for d in DIMENSIONS)
DEFAULT_WEIGHTS = np.array([d.default_weight for d in DIMENSIONS])
_MEANS = np.array([d.mean for d in DIMENSIONS])
_STDS = np.array([d.std for d in DIMENSIONS])
_DIRECTIONS = np.array([d.direction for d in DIMENSIONS], np.float64)


def parse_weights(text: str | None) -> np.ndarray:
    """Weights from ``'acc=1,adv=0.5,...'``; dimensions not named keep their default weight (give 0 to drop one).

    Keys: acc, adv, crob, ood, cal, balance, focus, shape, params. Values are non-negative magnitudes.
    """
    weights = DEFAULT_WEIGHTS.copy()
    if not text:
        return weights
    keys = [d.key for d in DIMENSIONS]
    seen = set()
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise UserError(f"--quba_weights: {item!r} is not key=value; example: acc=1,adv=0.5,params=0")
        if key not in keys:
            raise UserError(f"--quba_weights: unknown dimension {key!r}; known: {', '.join(keys)}"
                            + (f" (did you mean {closest(key, keys)[0]!r}?)" if closest(key, keys) else ""))
        if key in seen:
            raise UserError(f"--quba_weights: {key!r} is given twice")
        seen.add(key)
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"--quba_weights: {key}={value!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise UserError(f"--quba_weights: {key}={value} must be a finite number >= 0 (weights are magnitudes; "
                            "the direction of each dimension is fixed, e.g. low Cal. Err. is always better)")
        weights[keys.index(key)] = number
    if weights.sum() == 0:
        raise UserError("--quba_weights: all weights are 0; give at least one dimension a positive weight")
    return weights


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# Every accepted spelling of a dimension's column, folded (lower case, letters and digits only) -> its column.
_SPELLINGS = {_folded(n): d.column for d in DIMENSIONS for n in (d.column, d.long_name, d.key)}


def canonical_columns(table: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """``table`` with its dimension columns renamed to the short published names, whichever accepted spelling
    (short, long, weight key; any case and punctuation) it used; UserError where two columns name one dimension."""
    renames, seen = {}, {}
    for column in table.columns:
        target = _SPELLINGS.get(_folded(column))
        if target is None:
            continue
        if target in seen:
            raise UserError(f"{source}: columns {seen[target]!r} and {column!r} both name {target!r}")
        seen[target] = column
        renames[column] = target
    return table.rename(columns=renames)


def dimension_values(table: pd.DataFrame, source: str = "table") -> np.ndarray:
    """(n, 9) float array of the nine dimension columns; UserError for a missing, non-numeric or empty value."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        hints = {c: closest(c, map(str, table.columns), n=1) for c in missing}
        raise UserError(f"{source}: missing dimension column(s) {missing}; the nine columns are {list(COLUMNS)}"
                        + "".join(f"; for {c!r} found {h[0]!r}" for c, h in hints.items() if h))
    values = table[list(COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise UserError(f"{source}: {bad.sum()} value(s) are missing or not numbers, first in row {row} column "
                        f"{COLUMNS[column]!r} ({table[COLUMNS[column]].iloc[row]!r})")
    return values


def z_scores(values: np.ndarray) -> np.ndarray:
    """(n, 9) z-scores with the fixed μ, σ of P1.4 (not direction-corrected)."""
    return (np.asarray(values, np.float64) - _MEANS) / _STDS


def quba_scores(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(n,) QUBA scores of (n, 9) raw dimension values, with the default weights unless given."""
    weights = DEFAULT_WEIGHTS if weights is None else np.asarray(weights, np.float64)
    # Summed one dimension at a time: numpy picks its summation order of a matrix product or a row sum by array
    # shape, and a model must score bit-identically alone and inside the published table to tie with its own row.
    signed = weights * _DIRECTIONS
    z = z_scores(values)
    total = np.zeros(len(z))
    for k in range(len(DIMENSIONS)):
        total = total + z[:, k] * signed[k]
    return total / weights.sum()


@functools.cache
def _published() -> pd.DataFrame:
    with resources.files("jaxquba").joinpath("resources/quba_published.csv").open() as f:
        return pd.read_csv(f)


def published_table() -> pd.DataFrame:
    """The 326 published models (PROTOCOLS.md Appendix A): ``model`` (eval.py key), display name, architecture,
    data, setup, the nine dimension values as published (4 decimals) and their ``QUBA`` (3 decimals)."""
    return _published().copy()


def published_ranks(scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rank of each score among the published models scored with the same weights: 1 + #published above it."""
    published = np.sort(quba_scores(dimension_values(_published()), weights))
    return 1 + len(published) - np.searchsorted(published, np.asarray(scores), side="right")


def score_table(table: pd.DataFrame, weights: np.ndarray | None = None, source: str = "table") -> pd.DataFrame:
    """``rank`` (within the table, 1 = best), ``row`` (the table's ``row`` column, else the row's position from 0),
    ``model``, ``QUBA`` and ``published_rank`` (among the 326 published models plus this one), sorted best first
    (ties by row). Dimension columns may use any spelling :func:`canonical_columns` accepts."""
    if "model" not in table.columns:
        raise UserError(f"{source}: needs a 'model' column naming each row")
    scores = quba_scores(dimension_values(canonical_columns(table, source), source), weights)
    rows = table["row"].to_numpy() if "row" in table.columns else np.arange(len(table))
    ranked = pd.DataFrame({"row": rows, "model": table["model"].astype(str).to_numpy(), "QUBA": scores,
                           "published_rank": published_ranks(scores, weights)})
    ranked["rank"] = ranked["QUBA"].rank(ascending=False, method="min").astype(int)
    return ranked.sort_values(["rank", "row"], kind="stable").reset_index(drop=True)[
        ["rank", "row", "model", "QUBA", "published_rank"]]


def _read_table(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise UserError(f"--table: cannot read {path} as CSV: {e}") from None


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="python -m jaxquba.quba", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="CSV with a 'model' column and the nine dimension columns")
    parser.add_argument("--quba_weights", default=None, help="e.g. acc=1,adv=0.5 (magnitudes; others keep defaults)")
    parser.add_argument("--json", default=None, help="write [{row, model, quba, rank, published_rank}, ...] here")
    args = parser.parse_args(argv)
    weights = parse_weights(args.quba_weights)
    ranked = score_table(_read_table(args.table), weights, source=args.table)
    total = len(_published()) + 1
    shown = ranked.assign(QUBA=ranked["QUBA"].map("{:+.3f}".format),
                          published_rank=ranked["published_rank"].map(lambda r: f"{r} of {total}"))
    if args.json:  # before printing: a reader that closes the pipe early must not cost the file
        records = [{"row": _plain(r.row), "model": r.model, "quba": float(r.QUBA), "rank": int(r.rank),
                    "published_rank": int(r.published_rank)} for r in ranked.itertuples()]
        try:
            with open(args.json, "w") as f:
                json.dump(records, f, indent=1)
        except OSError as e:
            raise UserError(f"--json: cannot write {args.json}: {e}") from None
    print(shown.to_string(index=False))
    return ranked


def _plain(value):
    """A row identity as JSON has it (numpy integers become ints)."""
    return value.item() if isinstance(value, np.generic) else value
