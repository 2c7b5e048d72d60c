"""Results of many runs in one table: every stored value a row with every field of its spec as a column (tidy),
and one row per evaluated model run with a column per value (wide).

Tidy columns, in order (:data:`TIDY_COLUMNS`): the store it came from; the run (model, weights digest, precision,
seed, max_examples, protocol and its version); the reference dataset and dimension the run measured; the value's own
spec fields (metric, dataset, view, the remaining conditions as ``k=v,...``, host preprocessing); its name, published
column (if any), value, number of examples and the time it was written; and the spec string itself.

A run is what :data:`RUN_COLUMNS` names: two stores holding the same run and value (a copied store) give one row,
the later written. Stores written before the per-dimension tables and the one value grammar are read too (their
rows lack examples, preprocessing and time).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Sequence

import numpy as np
import pandas as pd
from etils import epath

from jaxquba import value_spec
from jaxquba.errors import UserError
from jaxquba.store import Store, write_bytes_atomic

RUN_COLUMNS = ("model", "weights", "precision", "seed", "max_examples", "protocol", "protocol_version")
TIDY_COLUMNS = ("store", *RUN_COLUMNS, "reference", "dimension", "metric", "dataset", "view", "conditions",
                "preprocess", "name", "column", "value", "examples", "time", "spec")
# The key of one row of the wide table: a run on one reference dataset.
WIDE_KEY = (*RUN_COLUMNS, "reference")


def _spec_columns(spec: str) -> dict[str, str]:
    fields = value_spec.parse(spec)
    view = fields.pop("view", "clean")
    metric, dataset = fields.pop("metric"), fields.pop("dataset")
    fields.pop("protocol", None)  # a column of the run already
    return {"metric": metric, "dataset": dataset, "view": view,
            "conditions": ",".join(f"{k}={v}" for k, v in fields.items())}


def read_store(root) -> pd.DataFrame:
    """The tidy rows of every results table in the store at ``root`` (UserError if it is not a store)."""
    store = Store(root)
    if not (store.root / "index.tsv").is_file():
        raise UserError(f"--store: {root} is not a jaxquba results store (no index.tsv; it is OUTPUT_DIR/store)")
    frames = []
    for digest, kind, _ in store.index():
        if kind != "table":
            continue
        fields = json.loads((store.root / "specs" / f"{digest}.json").read_text())["fields"]
        if fields.get("kind") != "results":
            continue
        with (store.root / "tables" / f"{digest}.parquet").open("rb") as f:
            rows = pd.read_parquet(f)
        protocol, _, version = fields["protocol"].partition("@")
        run = {"store": str(root), "model": fields["model"], "weights": fields["weights"],
               "precision": fields["precision"], "seed": int(fields["seed"]),
               "max_examples": int(fields.get("max_examples", 0)), "protocol": protocol, "protocol_version": version}
        parsed = pd.DataFrame([_spec_columns(s) for s in rows["spec"]], index=rows.index)
        rows = rows.rename(columns={"dataset": "reference"}).drop(columns=["model", "protocol"], errors="ignore")
        frames.append(pd.concat([rows, parsed], axis=1).assign(**run))
    if not frames:
        return pd.DataFrame(columns=list(TIDY_COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    for name in TIDY_COLUMNS:
        if name not in table.columns:
            table[name] = np.nan
    return table[list(TIDY_COLUMNS)]


def tidy_table(roots: Sequence, models: Sequence[str] = ()) -> pd.DataFrame:
    """The tidy rows of every store in ``roots``, keeping models whose name matches one of the globs ``models``
    (all where empty); one row per (run, reference, spec), the latest written where stores share one."""
    table = pd.concat([read_store(r) for r in roots], ignore_index=True)
    if models:
        keep = table["model"].map(lambda m: any(fnmatch.fnmatchcase(m, g) for g in models))
        table = table[keep]
    if table.empty:
        raise UserError(f"no results in {', '.join(map(str, roots))}"
                        + (f" for models matching {', '.join(models)}" if models else ""))
    table = table.sort_values("time", na_position="first", kind="stable")
    table = table.drop_duplicates([*WIDE_KEY, "spec"], keep="last")
    return table.sort_values([*WIDE_KEY, "dimension"], kind="stable").reset_index(drop=True)


def wide_column(row) -> str | None:
    """The wide table's column of a tidy row: its published column, or ``errors/...`` for the error study."""
    if isinstance(row.column, str) and row.column:
        return row.column
    if row.dimension == "errors":
        return row.metric
    return None


def wide_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per run and reference dataset: :data:`WIDE_KEY`, a ``label`` unique per row (the model, plus the run
    fields that tell its runs apart), and a column per value that has one (nine QUBA columns, the generalization
    study's, the error study's)."""
    tidy = tidy.assign(wide=[wide_column(r) for r in tidy.itertuples(index=False)]).dropna(subset=["wide"])
    wide = tidy.pivot_table(index=list(WIDE_KEY), columns="wide", values="value", aggfunc="last", sort=False)
    wide = wide.reset_index()
    wide.columns.name = None
    wide.insert(0, "label", _labels(wide))
    return wide


def _labels(wide: pd.DataFrame) -> list[str]:
    """The model name, plus ``field=value`` for each run field that differs between that model's rows."""
    labels = []
    varying = {m: [c for c in WIDE_KEY[1:] if g[c].nunique() > 1] for m, g in wide.groupby("model")}
    for row in wide.itertuples(index=False):
        parts = [f"{c}={getattr(row, c) if c != 'weights' else str(row.weights)[:8]}" for c in varying[row.model]]
        labels.append(row.model + (f" [{', '.join(parts)}]" if parts else ""))
    return labels


def write_tidy(tidy: pd.DataFrame, folder) -> None:
    """``folder`` as one parquet dataset partitioned by model (``model=<name>/part-0.parquet``): pandas reads it with
    ``pd.read_parquet(folder)``, DuckDB with ``read_parquet('folder/*/*.parquet', hive_partitioning=true)``."""
    folder = epath.Path(folder)
    for model, rows in tidy.groupby("model", sort=True):
        write_bytes_atomic(folder / f"model={model}" / "part-0.parquet",
                           rows.drop(columns=["model"]).to_parquet(index=False))

