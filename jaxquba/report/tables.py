"""Result tables of the report: per-model dimension table, ranking table, and Markdown rendering."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from jaxquba import quba


def published_signed_z() -> np.ndarray:
    """(326, 9) direction-signed z-scores of the published models (larger = better in every column)."""
    return quba.z_scores(quba.dimension_values(quba.published_table())) * _directions()


def _directions() -> np.ndarray:
    return np.array([d.direction for d in quba.DIMENSIONS], np.float64)


def model_table(values: np.ndarray) -> pd.DataFrame:
    """One row per dimension for one model's (9,) raw values: value, z-score, direction-signed z, the published
    median, and the share of published models this model beats on that dimension (in %)."""
    published = quba.dimension_values(quba.published_table())
    z = quba.z_scores(values[None])[0]
    signed = published * _directions()
    beats = 100.0 * np.mean(signed < (values * _directions())[None, :], axis=0)
    return pd.DataFrame({
        "dimension": list(quba.COLUMNS),
        "better": ["higher" if d.direction > 0 else "lower" for d in quba.DIMENSIONS],
        "value": values,
        "z": z,
        "signed z": z * _directions(),
        "published median": np.median(published, axis=0),
        "beats published %": beats,
    })


def ranking_table(results: pd.DataFrame, weights: np.ndarray | None = None,
                  unranked: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The evaluated models ranked by QUBA, with their raw dimension values and rank among the published.
    ``unranked``: model -> why its values are not comparable with the published ones; such a model gets no
    published rank (``<NA>``) and the reason in the ``note`` column."""
    unranked = dict(unranked or {})
    ranked = quba.score_table(results, weights, source="results")
    ranked["published_rank"] = ranked["published_rank"].astype("Int64").mask(ranked["model"].isin(list(unranked)))
    ranked["note"] = ranked["model"].map(lambda m: unranked.get(m, ""))
    values = results.assign(model=results["model"].astype(str)).set_index("model")[list(quba.COLUMNS)]
    return ranked.join(values, on="model")


def to_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (floats with ``digits`` decimals)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"
