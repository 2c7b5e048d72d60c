"""The report over every evaluated model: one self-contained HTML page (inline CSS, hand-written JS, SVG drawn in
the browser from data embedded as JSON; no network), beside the 326 published models.

What the page shows (``page.js`` draws it): a sortable, filterable table of the evaluated runs and of the published
models (filters by architecture, training data and training setup as the published table labels them); a scatter of
any two columns over the published population with the evaluated runs highlighted; per run that is a published
model, its published row beside the re-evaluation; the direction-signed Spearman heatmap of the nine dimensions with
significance marks; a radar per run on demand; and the three studies' headline figures. Runs with only some of the
nine dimensions are shown with what they have; a QUBA score and rank only where all nine are measured.
"""

from __future__ import annotations

import datetime
import html
import json
import math
from importlib import resources
from typing import Sequence

import numpy as np
import pandas as pd
from etils import epath
from scipy.stats import spearmanr

import jaxquba
from jaxquba import collate
from jaxquba.quba import score
from jaxquba.store import write_bytes_atomic

# Correlations need at least this many models with both values; below it a cell stays empty.
MIN_MODELS_FOR_CORRELATION = 3
# Marks of the heatmap: two-sided p-value of Spearman's rho below each threshold.
SIGNIFICANCE = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
# Dimensions of the bias study's probes (the rest of its p2_* dimensions are generalization benchmarks).
BIAS_DIMENSIONS = ("p2_shape_bias", "p2_spectral", "p2_critical_band")


def _clean(value):
    """JSON-safe scalar: NaN and infinities become null, numpy scalars Python ones."""
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _mark(p: float) -> str:
    return next((m for limit, m in SIGNIFICANCE if p < limit), "")


def signed_spearman(values: np.ndarray, directions: np.ndarray) -> dict:
    """Spearman rho between columns of (n, k) ``values`` after multiplying each by its direction (so a positive
    rho means "better on one goes with better on the other"), pairwise over models that have both, with the
    two-sided p-value's significance mark; null where fewer than :data:`MIN_MODELS_FOR_CORRELATION` models."""
    k = values.shape[1]
    rho = [[None] * k for _ in range(k)]
    marks = [[""] * k for _ in range(k)]
    counts = [[0] * k for _ in range(k)]
    signed = values * directions
    for i in range(k):
        for j in range(k):
            both = np.isfinite(signed[:, i]) & np.isfinite(signed[:, j])
            counts[i][j] = int(both.sum())
            if both.sum() < MIN_MODELS_FOR_CORRELATION or i == j:
                rho[i][j] = 1.0 if i == j and both.sum() else None
                continue
            result = spearmanr(signed[both, i], signed[both, j])
            if np.isfinite(result.statistic):
                rho[i][j] = float(result.statistic)
                marks[i][j] = _mark(float(result.pvalue))
    return {"rho": rho, "marks": marks, "n": counts}


def cross_spearman(rows: np.ndarray, cols: np.ndarray) -> dict:
    """Spearman rho (with marks) of every column of ``rows`` (n, a) against every column of ``cols`` (n, b)."""
    rho = [[None] * cols.shape[1] for _ in range(rows.shape[1])]
    marks = [[""] * cols.shape[1] for _ in range(rows.shape[1])]
    for i in range(rows.shape[1]):
        for j in range(cols.shape[1]):
            both = np.isfinite(rows[:, i]) & np.isfinite(cols[:, j])
            if both.sum() >= MIN_MODELS_FOR_CORRELATION:
                result = spearmanr(rows[both, i], cols[both, j])
                if np.isfinite(result.statistic):
                    rho[i][j], marks[i][j] = float(result.statistic), _mark(float(result.pvalue))
    return {"rho": rho, "marks": marks}


def published_match(model: str) -> int | None:
    """The published row (its ``row`` number) an evaluated model re-evaluates, through the registry's table of
    published models (:func:`jaxquba.zoo.published_rows`): the row of that published name, else the first row whose
    weights and preprocessing are this registry name's; None where the model is not a published one."""
    from jaxquba import zoo
    rows = zoo.published_rows()
    named = [r.row for r in rows if r.published == model]
    same = [r.row for r in rows if r.registry == model and not r.data]
    return (named or same or [None])[0]


def _rank_notes(evaluated: pd.DataFrame, tidy: pd.DataFrame, complete: pd.Series) -> list[str]:
    """Per run: why it has no QUBA or no rank among the published ("" where it has both): dimensions missing, or a
    C-Rob measured on data that is not the published protocol's (:func:`c_rob_not_comparable`)."""
    from jaxquba.quba.dimensions import c_rob_not_comparable
    crob = tidy[tidy["column"] == "C-Rob."].drop_duplicates(list(collate.WIDE_KEY), keep="last")
    specs = dict(zip(map(tuple, crob[list(collate.WIDE_KEY)].to_numpy().tolist()), crob["spec"]))
    notes = []
    for key, full in zip(map(tuple, evaluated[list(collate.WIDE_KEY)].to_numpy().tolist()), complete):
        if not full:
            notes.append("no QUBA: not all nine dimensions measured")
        else:
            notes.append(c_rob_not_comparable(specs[key]) or "")
    return notes


def _headline_columns(tidy: pd.DataFrame, dimensions) -> list[str]:
    """The first wide column of each of ``dimensions`` present in ``tidy`` (its headline value)."""
    out = []
    for dim in dimensions:
        rows = tidy[(tidy["dimension"] == dim) & tidy["column"].notna()]
        if len(rows):
            out.append(str(rows["column"].iloc[0]))
    return out


def page_data(wide: pd.DataFrame, tidy: pd.DataFrame) -> dict:
    """Everything the page draws, as JSON-able data."""
    published = score.published_table()
    nine = list(score.COLUMNS)
    directions = np.array([d.direction for d in score.DIMENSIONS], np.float64)
    evaluated = wide.copy()
    for column in nine:
        if column not in evaluated.columns:
            evaluated[column] = np.nan
    complete = evaluated[nine].notna().all(axis=1)
    evaluated["QUBA"] = np.nan
    evaluated["published_rank"] = np.nan
    evaluated["rank_note"] = _rank_notes(evaluated, tidy, complete)
    if complete.any():
        scores = score.quba_scores(evaluated.loc[complete, nine].to_numpy(np.float64))
        evaluated.loc[complete, "QUBA"] = scores
        ranked = complete & (evaluated["rank_note"] == "")
        evaluated.loc[ranked, "published_rank"] = score.published_ranks(evaluated.loc[ranked, "QUBA"].to_numpy())
    evaluated["published_row"] = [published_match(m) for m in evaluated["model"]]

    population = published[nine].to_numpy(np.float64)
    heatmaps = {"published models": signed_spearman(population, directions)}
    ours = evaluated[nine].to_numpy(np.float64)
    if (np.isfinite(ours).sum(axis=0) >= MIN_MODELS_FOR_CORRELATION).any():
        heatmaps["evaluated runs"] = signed_spearman(ours, directions)

    p2_dims = [d for d in dict.fromkeys(tidy["dimension"]) if str(d).startswith("p2_")]
    # A headline value that no run measured (NaN everywhere, e.g. a band fit that failed) has no wide column.
    bias = [c for c in _headline_columns(tidy, [d for d in p2_dims if d in BIAS_DIMENSIONS]) if c in evaluated]
    general = [c for c in _headline_columns(tidy, [d for d in p2_dims if d not in BIAS_DIMENSIONS]) if c in evaluated]
    bias_corr = cross_spearman(evaluated[bias].to_numpy(np.float64), evaluated[general].to_numpy(np.float64)) \
        if bias and general else None
    shares = sorted(c for c in evaluated.columns if str(c).startswith("errors/share_"))

    value_columns = [c for c in wide.columns if c not in ("label", "model", "weights", "precision", "seed",
                                                          "max_examples", "protocol", "protocol_version",
                                                          "reference")]
    return {
        "generated": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        "version": jaxquba.__version__,
        "dimensions": [{"column": d.column, "key": d.key, "direction": d.direction, "mean": d.mean, "std": d.std,
                        "weight": d.default_weight} for d in score.DIMENSIONS],
        "published": _records(published.drop(columns=["key_inferred"], errors="ignore")),
        "evaluated": _records(evaluated),
        "value_columns": [c for c in nine if c in value_columns] + [c for c in value_columns if c not in nine],
        "heatmaps": heatmaps,
        "studies": {"bias_columns": bias, "generalization_columns": general, "bias_correlations": bias_corr,
                    "error_shares": shares},
    }


def render(data: dict) -> str:
    """The page: data as JSON in a ``<script type="application/json">`` block, CSS and JS inline."""
    package = resources.files("jaxquba.report")
    script = package.joinpath("page.js").read_text()
    style = package.joinpath("page.css").read_text()
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = f"jaxquba report: {len(data['evaluated'])} evaluated runs, {len(data['published'])} published models"
    protocols = sorted({f"{r['protocol']}@{r['protocol_version']}" for r in data["evaluated"]})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{style}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="meta">jaxquba {html.escape(data['version'])} &middot; generated {html.escape(data['generated'])} &middot;
protocol {html.escape(', '.join(protocols))} (quba_paper reproduces the published numbers; pixel is corrected) &middot;
QUBA: weighted mean of direction-signed z-scores with the fixed constants of "Beyond Accuracy", only for runs with
all nine dimensions; ranks are among the published models plus the run itself.</p>
<div id="app"></div>
<script type="application/json" id="data">{payload}</script>
<script>{script}</script>
</body></html>
"""


def write(stores: Sequence, out, models: Sequence[str] = ()) -> epath.Path:
    """Collates ``stores`` (keeping models matching the globs ``models``) into the folder ``out`` (local or remote):
    ``tidy/`` (parquet dataset by model), ``wide.csv``, ``wide.parquet`` and ``index.html``; returns the page's path.
    UserError where the stores hold no results (for those models)."""
    tidy = collate.tidy_table([str(s) for s in stores], models)
    wide = collate.wide_table(tidy)
    out_dir = epath.Path(out).expanduser()
    collate.write_tidy(tidy, out_dir / "tidy")
    write_bytes_atomic(out_dir / "wide.csv", wide.to_csv(index=False).encode())
    write_bytes_atomic(out_dir / "wide.parquet", wide.to_parquet(index=False))
    index = out_dir / "index.html"
    write_bytes_atomic(index, render(page_data(wide, tidy)).encode())
    return index
