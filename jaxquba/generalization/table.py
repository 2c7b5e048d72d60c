"""The study's results table: one row per model, columns named as in the published ``raw-data/benchmark.csv``.

Benchmarks are ``top1_acc/<dataset>`` (percent), biases ``shape-bias``, ``metric/bandpass/{LFC,HFC}/<c>`` and
``metric/criticalband/{bw,cf,pns}[_norm]``; the notebook's summaries are ``LPP``, ``HPP``, ``spectral_bias`` and the
aggregates ``ID``, ``Robustness``, ``Concepts``, ``Adversarial``. The published values of the 48 paper models
(PROTOCOLS.md Appendix B) ship as ``resources/p2_published.csv`` with the same column names, so a new model's row
and the published ones stack into one table (:func:`side_by_side`).
"""

from __future__ import annotations

import functools
import io
from importlib import resources
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from etils import epath

from jaxquba.generalization.aggregates import AGGREGATES, aggregates

BENCHMARK_COLUMNS = ("top1_acc/imagenet", "top1_acc/imagenet-v2", "top1_acc/imagenet-real", "top1_acc/imagenet-a",
                     "top1_acc/imagenet-c", "top1_acc/imagenet-cbar", "top1_acc/imagenet-sketch",
                     "top1_acc/imagenet-r", "top1_acc/stylized", "top1_acc/PGD-40/low")
AGGREGATE_COLUMNS = tuple(AGGREGATES)
CRITICAL_BAND_COLUMNS = tuple(f"metric/criticalband/{p}{s}" for s in ("", "_norm") for p in ("bw", "cf", "pns"))
BIAS_COLUMNS = ("shape-bias", "LPP", "HPP", "spectral_bias") + CRITICAL_BAND_COLUMNS
COLUMNS = BENCHMARK_COLUMNS + AGGREGATE_COLUMNS + BIAS_COLUMNS
PUBLISHED_SOURCE = "published (Gavrikov & Keuper 2024, benchmark.csv)"


def results_table(rows: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """``{model: {column: value}}`` -> one row per model: the known columns first in the study's order, then any
    others (e.g. the 22 band-pass ratios); the aggregates are computed where their members are all present."""
    records = {model: {**values, **aggregates(values)} for model, values in rows.items()}
    table = pd.DataFrame.from_dict(records, orient="index")
    table.index.name = "model"
    known = [c for c in COLUMNS if c in table.columns]
    return table[known + sorted(set(table.columns) - set(known))]


@functools.cache
def _published_csv() -> str:
    return resources.files("jaxquba").joinpath("resources/p2_published.csv").read_text()


def published() -> pd.DataFrame:
    """The published values of the study's 48 ResNet-50 models (index: model; ``category`` plus value columns)."""
    return pd.read_csv(io.StringIO(_published_csv()), index_col="model")


def side_by_side(ours: pd.DataFrame, models: Iterable[str] | None = None, source: str = "jaxquba") -> pd.DataFrame:
    """Our rows stacked over the published ones (all, or ``models``), with a ``source`` column and the columns both
    have, in our order."""
    reference = published()
    if models is not None:
        reference = reference.loc[list(models)]
    common = [c for c in ours.columns if c in reference.columns]
    return pd.concat([ours[common].assign(source=source), reference[common].assign(source=PUBLISHED_SOURCE)])


def write_table(table: pd.DataFrame, path_stem) -> tuple[epath.Path, epath.Path]:
    """``<stem>.csv`` and ``<stem>.md`` (numbers to 4 significant digits in the Markdown), each written atomically;
    ``path_stem`` local or remote (``gs://``)."""
    from jaxquba.store import write_bytes_atomic
    path_stem = epath.Path(path_stem)
    csv_path, md_path = path_stem.with_suffix(".csv"), path_stem.with_suffix(".md")
    write_bytes_atomic(csv_path, table.to_csv().encode())
    write_bytes_atomic(md_path, (_markdown(table) + "\n").encode())
    return csv_path, md_path


def _markdown(table: pd.DataFrame) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
    header = [table.index.name or ""] + list(map(str, table.columns))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([str(i)] + [cell(v) for v in row]) + " |" for i, row in zip(table.index, table.values)]
    return "\n".join(lines)
