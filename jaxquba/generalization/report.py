"""The study's outputs from an evaluation run: the results table (published column names) next to the published
48-model table, and the bias-vs-aggregate rank correlations with their heatmap.

    python -m jaxquba.generalization.report --summary=OUTPUT_DIR/summary.json --out=OUTPUT_DIR/p2 [--mode=corrected]

Correlations need at least 3 models with values; ``--with_published`` adds the 48 published models to the
population (useful when few models were evaluated; the evaluated rows are then ranked among them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from absl import app, flags
from etils import epath

from jaxquba.errors import UserError
from jaxquba.generalization import correlations, table

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when it runs (a process may import this module next to the app)."""
    flags.DEFINE_string("summary", None, "summary.json written by python -m jaxquba.main.")
    flags.DEFINE_string("out", "p2_report", "Output folder.")
    flags.DEFINE_enum("mode", "p2_paper", ["p2_paper", "corrected"],
                      "p2_paper: last-batch ReaL and the published critical-band fit; corrected: proper ReaL, NaN fits.")
    flags.DEFINE_bool("with_published", False, "Correlate over the evaluated and the 48 published models together.")


SUITE_PREFIX = "p2_"


def rows_from_summary(summary: Mapping[str, Any], mode: str = "p2_paper") -> dict[str, dict[str, float]]:
    """{model: results-table row} from the app's summary (the P2 dimensions' values)."""
    from jaxquba.generalization.dimensions import table_row
    rows = {}
    for entry in summary["models"]:
        values = {r["name"]: r["value"] for r in entry["results"] if r["dimension"].startswith(SUITE_PREFIX)}
        if values:
            rows[entry["model"]] = table_row(values, mode)
    if not rows:
        raise UserError("the summary has no generalization-study values: run python -m jaxquba.main "
                        "--flagfile=biases.flags --model=...")
    return rows


def write_study_report(rows: Mapping[str, Mapping[str, float]], out_dir, with_published: bool = False
                       ) -> dict[str, epath.Path]:
    """``results``, ``side_by_side`` (CSV + Markdown), ``correlations_{spearman,kendall}.csv`` and
    ``correlations.png`` under ``out_dir`` (local or remote, e.g. ``gs://bucket/run``), each written atomically."""
    from jaxquba.store import write_bytes_atomic
    out_dir = epath.Path(out_dir)
    ours = table.results_table(rows)
    paths = {}
    paths["results"], _ = table.write_table(ours, out_dir / "results")
    both = table.side_by_side(ours)
    paths["side_by_side"], _ = table.write_table(both, out_dir / "side_by_side")
    population = both.drop(columns="source") if with_published else ours
    population = population.apply(pd.to_numeric, errors="coerce")
    aggregates = [a for a in table.AGGREGATE_COLUMNS if a in population.columns]
    if len(population) >= correlations.MIN_MODELS and aggregates:
        corr = {m: correlations.rank_correlations(population, m, aggregates=aggregates)
                for m in correlations.METHODS}
        for method, frame in corr.items():
            write_bytes_atomic(out_dir / f"correlations_{method}.csv", frame.to_csv().encode())
            paths[f"correlations_{method}"] = out_dir / f"correlations_{method}.csv"
        paths["heatmap"] = correlations.correlation_heatmap(
            corr, out_dir / "correlations.png", title=f"biases vs generalization ({len(population)} models)")
    return paths


def main(argv) -> None:
    del argv
    from jaxquba.errors import run_cli

    def body():
        if not FLAGS.summary:
            raise UserError("pass --summary=OUTPUT_DIR/summary.json")
        summary = json.loads(Path(FLAGS.summary).expanduser().read_text())
        paths = write_study_report(rows_from_summary(summary, FLAGS.mode), FLAGS.out, FLAGS.with_published)
        for name, path in paths.items():
            print(f"{name}: {path}")

    run_cli(body)


if __name__ == "__main__":
    define_flags()
    app.run(main)
