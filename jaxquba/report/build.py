"""``write_report``: per-model tables and radar charts, a ranking and a Spearman heatmap, and one HTML page that
embeds everything (images as base64), so it opens from disk without a server."""

from __future__ import annotations

import base64
import datetime
import html
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

import jaxquba
from jaxquba import protocols, quba
from jaxquba.errors import UserError
from jaxquba.report import plots, tables

# The fewest evaluated models for which a rank correlation between dimensions says anything.
_MIN_MODELS_FOR_SPEARMAN = 3


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _embedded_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html_table(table: pd.DataFrame, digits: int = 4) -> str:
    return table.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", border=0, classes="t")


def write_report(results: pd.DataFrame, out_dir: str | Path, protocol: str,
                 weights: np.ndarray | None = None, unranked: Mapping[str, str] | None = None) -> Path:
    """Writes the report of ``results`` (a ``model`` column and the nine raw dimension columns of
    :data:`jaxquba.quba.COLUMNS`) into ``out_dir`` and returns the path of ``index.html``.

    Per model (``<out_dir>/<model>/``): ``results.csv`` and ``results.md`` (value, z-score, published median,
    share of published models beaten, QUBA and rank among the 326 published) and ``radar.png``. For the set:
    ``ranking.csv``/``ranking.md`` and ``spearman.png`` (published population, plus the evaluated models when
    there are at least three). ``protocol`` names the protocol that produced the results (``quba_paper`` or
    ``pixel``); it is stated, with its version, on the page and in every table. ``unranked``: model -> why its
    values are not comparable with the published ones (e.g. a C-Rob not made with the ImageNet-C release's
    pipeline); such a model is scored but given no rank among the published, and the reason is shown.
    """
    protocol = protocols.get(protocol).spec  # UserError for an unknown name; the spec carries the version
    if "model" not in results.columns or results["model"].astype(str).duplicated().any():
        raise UserError("write_report: results need a 'model' column with one row per model")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = quba.dimension_values(results, source="results")
    ranking = tables.ranking_table(results, weights, unranked)
    ranking.insert(0, "protocol", protocol)
    ranking.to_csv(out_dir / "ranking.csv", index=False)
    (out_dir / "ranking.md").write_text(f"Protocol: `{protocol}`\n\n" + tables.to_markdown(ranking))
    total = len(quba.published_table()) + 1

    population = tables.published_signed_z()
    sections = []
    for row in ranking.itertuples(index=False):
        model_values = values[list(results["model"].astype(str)).index(row.model)]
        model_dir = out_dir / _slug(row.model)
        model_dir.mkdir(exist_ok=True)
        table = tables.model_table(model_values)
        summary = (f"QUBA {row.QUBA:+.3f}, rank {row.published_rank} of {total} among the published models"
                   if not row.note else f"QUBA {row.QUBA:+.3f}, not ranked among the published models: {row.note}")
        table.assign(protocol=protocol, QUBA=row.QUBA, published_rank=row.published_rank).to_csv(
            model_dir / "results.csv", index=False)
        (model_dir / "results.md").write_text(
            f"# {row.model}\n\nProtocol: `{protocol}`. {summary}.\n\n" + tables.to_markdown(table))
        radar = plots.radar_chart(row.model, table["signed z"].to_numpy(), population, model_dir / "radar.png")
        sections.append(f"<section><h2>{html.escape(row.model)}</h2><p>{html.escape(summary)}.</p>"
                        f"<div class=row>{_embedded_png(radar)}{_html_table(table)}</div></section>")

    panels = {"published models": quba.dimension_values(quba.published_table())}
    if len(results) >= _MIN_MODELS_FOR_SPEARMAN:
        panels = {"evaluated models": values, **panels}
    heatmap = plots.spearman_heatmap(panels, out_dir / "spearman.png")

    note = "" if len(results) >= _MIN_MODELS_FOR_SPEARMAN else (
        f"<p>Fewer than {_MIN_MODELS_FOR_SPEARMAN} evaluated models: only the published population's "
        "correlations are shown.</p>")
    weights_text = ", ".join(f"{d.key}={w:g}" for d, w in zip(
        quba.DIMENSIONS, quba.DEFAULT_WEIGHTS if weights is None else weights))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>jaxquba report ({html.escape(protocol)})</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1300px; }}
table.t {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }}
table.t th, table.t td {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }}
img {{ max-width: 100%; }}
.protocol {{ background: #fff3cd; padding: 0.5em 1em; border-left: 4px solid #e0a800; }}
</style></head><body>
<h1>jaxquba report</h1>
<p class="protocol">Protocol: <b>{html.escape(protocol)}</b> &middot; jaxquba {jaxquba.__version__} &middot;
generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}</p>
<p>QUBA = weighted mean of direction-signed z-scores with the fixed constants of "Beyond Accuracy"
(weights {html.escape(weights_text)}). Ranks are among the {total - 1} published models plus the model itself,
scored with the same weights.</p>
<h2>Ranking</h2>{_html_table(ranking)}
{''.join(sections)}
<section><h2>Rank correlation between dimensions</h2>{note}{_embedded_png(heatmap)}</section>
</body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page)
    return index
