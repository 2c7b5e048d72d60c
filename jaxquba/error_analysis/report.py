"""Per-model report of the error analysis: a table with the study's CSV columns, the model's position among the
published models (error-type shares against top-1 accuracy, as in the study's main figure), a PNG and an HTML page.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from etils import epath

from jaxquba.errors import UserError
from jaxquba.store import write_bytes_atomic

METADATA_COLUMNS = ("model_dir_id", "num_params", "training_data", "arch", "arch_family", "arch_group",
                    "extra_annotations", "top1_val_acc", "imagenet_top1_val_acc", "imagenet_mla_val_acc")
SHARE_LABELS = {
    "num_collapsed_mappings": "overlapping classes",
    "num_ambiguous": "multi-label",
    "num_same_superclass": "fine-grained",
    "num_OOV_clip": "fine-grained OOV",
    "num_common_co_occ": "spurious correlation",
    "num_non_prototypical": "non-prototypical",
    "num_not_classified": "model failure (major)",
}


def model_table(rows: list[dict], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per evaluated model; columns in the published CSV's order where given (missing metadata = NaN)."""
    table = pd.DataFrame(rows)
    if published is not None:
        columns = list(published.columns)
        extra = [c for c in table.columns if c not in columns]
        table = table.reindex(columns=columns + extra)
    return table


def shares(table: pd.DataFrame) -> pd.DataFrame:
    """Each error type's count as a share (%) of the model's top-1 errors in the group."""
    errors = table["num_group_top1_errors"].to_numpy(float)
    return pd.DataFrame({label: 100.0 * table[col].to_numpy(float) / np.maximum(errors, 1)
                         for col, label in SHARE_LABELS.items()}, index=table.index)


def positions(table: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Per model and quantity, the percentage of published models with a smaller value (ties count half)."""
    ours, theirs = shares(table), shares(published)
    for frame, source in ((ours, table), (theirs, published)):
        frame["top-1 accuracy"] = source["top1_val_acc"].to_numpy(float)
        frame["MLA"] = source["mla_all"].to_numpy(float)
    out = {}
    for column in ours.columns:
        ref = np.sort(theirs[column].dropna().to_numpy())
        values = ours[column].to_numpy(float)
        below = np.searchsorted(ref, values, "left")
        at_or_below = np.searchsorted(ref, values, "right")
        out[column] = 100.0 * (below + at_or_below) / (2 * len(ref))
    return pd.DataFrame(out, index=table.get("model_dir_id", table.index))


def figure_png(table: pd.DataFrame, published: pd.DataFrame) -> bytes:
    """Scatter of each error type's share of top-1 errors against top-1 accuracy: published models grey, ours red."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours, theirs = shares(table), shares(published)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, label in zip(axes.ravel(), SHARE_LABELS.values()):
        ax.scatter(published["top1_val_acc"], theirs[label], s=6, c="0.6", label=f"published ({len(published)})")
        ax.scatter(table["top1_val_acc"], ours[label], s=80, c="red", marker="*", label="evaluated")
        ax.set_title(label)
        ax.set_xlabel("top-1 accuracy (%)")
        ax.set_ylabel("share of top-1 errors (%)")
    axes.ravel()[-1].axis("off")
    axes.ravel()[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write(rows: list[dict], published_csv: str | Path, out_dir) -> dict[str, epath.Path]:
    """Writes ``errors_table.csv``, ``errors_position.csv``, ``errors.png`` and a self-contained ``errors.html``
    under ``out_dir`` (a local folder or a remote one such as ``gs://bucket/run``), each file atomically."""
    published_csv = Path(published_csv)
    if not published_csv.is_file():
        raise UserError(f"{published_csv} does not exist: give the study's stats-imagenet/non_problematic_stats_all.csv "
                        "(eth-sri/automated-error-analysis)")
    published = pd.read_csv(published_csv)
    table = model_table(rows, published)
    missing = {"top1_val_acc", "num_group_top1_errors", "mla_all"} - set(table.dropna(axis=1, how="all").columns)
    if missing:
        raise UserError(f"report rows lack {sorted(missing)}")
    out_dir = epath.Path(out_dir)
    where = positions(table, published)
    png = figure_png(table, published)
    paths = {"table": out_dir / "errors_table.csv", "position": out_dir / "errors_position.csv",
             "png": out_dir / "errors.png", "html": out_dir / "errors.html"}
    write_bytes_atomic(paths["table"], table.to_csv(index=False).encode())
    write_bytes_atomic(paths["position"], where.to_csv().encode())
    write_bytes_atomic(paths["png"], png)
    write_bytes_atomic(paths["html"], (
        "<!doctype html><meta charset='utf-8'><title>jaxquba error analysis</title>"
        "<h1>Error analysis (Peychev et al. 2023 protocol)</h1>"
        "<h2>Per-model statistics (columns of the published stats CSV)</h2>"
        + table.dropna(axis=1, how="all").to_html(index=False, float_format=lambda v: f"{v:.3f}")
        + f"<h2>Position among the {len(published)} published models</h2>"
          "<p>Percentage of published models with a smaller value (50 = median).</p>"
        + where.to_html(float_format=lambda v: f"{v:.1f}")
        + "<h2>Error-type shares against top-1 accuracy</h2>"
        + f"<img alt='{html.escape('error type shares')}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
    ).encode())
    return paths
