"""Rank correlations between biases and generalization aggregates across models, and their heatmap (the study's
main figure): Spearman's rho and Kendall's tau (scipy, NaN rows of a pair left out)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from etils import epath
from scipy import stats

from jaxquba.errors import UserError
from jaxquba.generalization.table import AGGREGATE_COLUMNS, BIAS_COLUMNS

METHODS = {"spearman": stats.spearmanr, "kendall": stats.kendalltau}
MIN_MODELS = 3


def rank_correlations(table: pd.DataFrame, method: str = "spearman", biases: Sequence[str] | None = None,
                      aggregates: Sequence[str] = AGGREGATE_COLUMNS) -> pd.DataFrame:
    """(bias x aggregate) rank correlations over the models (rows) of ``table``; ``biases`` default to the bias
    columns the table has. A pair with fewer than 3 models holding both values, or a constant column, is NaN."""
    if method not in METHODS:
        raise UserError(f"unknown correlation {method!r}; use one of {', '.join(METHODS)}")
    biases = [b for b in BIAS_COLUMNS if b in table.columns] if biases is None else list(biases)
    missing = [c for c in (*biases, *aggregates) if c not in table.columns]
    if missing:
        raise UserError(f"the table has no column(s) {missing}; columns: {list(table.columns)}")
    out = pd.DataFrame(np.nan, index=pd.Index(biases, name="bias"), columns=list(aggregates))
    for b in biases:
        for a in aggregates:
            pair = table[[b, a]].astype(float).dropna()
            if len(pair) >= MIN_MODELS and pair[b].nunique() > 1 and pair[a].nunique() > 1:
                out.loc[b, a] = float(METHODS[method](pair[b], pair[a])[0])
    return out


def correlation_heatmap(correlations: dict[str, pd.DataFrame], path, title: str = "") -> epath.Path:
    """One annotated panel per method (e.g. ``{'spearman': ..., 'kendall': ...}``), diverging colours in [-1, 1],
    written atomically as a PNG to ``path`` (local or remote)."""
    import io

    from jaxquba.store import write_bytes_atomic
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(correlations.items())
    rows = max(len(c.index) for _, c in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(1.6 + 1.5 * len(panels) * 4, 1.2 + 0.45 * rows),
                             squeeze=False, constrained_layout=True)
    image = None
    for ax, (method, corr) in zip(axes[0], panels):
        image = ax.imshow(corr.values.astype(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(range(len(corr.columns)), corr.columns, rotation=30, ha="right")
        ax.set_yticks(range(len(corr.index)), [_short(b) for b in corr.index])
        for (i, j), v in np.ndenumerate(corr.values.astype(float)):
            ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 else "black")
        ax.set_title({"spearman": "Spearman ρ", "kendall": "Kendall τ"}.get(method, method))
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    if title:
        fig.suptitle(title)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    path = epath.Path(path)
    write_bytes_atomic(path, png.getvalue())
    return path


def _short(column: str) -> str:
    return column.replace("metric/criticalband/", "CB ")
