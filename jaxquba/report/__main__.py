"""``python -m jaxquba.report``: one table and one report over every model run found in one or more stores.

    python -m jaxquba.report --store=run1/store,run2/store [--models='resnet*,vit_*'] [--out=jaxquba_report]

Writes into ``--out`` (a local folder or a remote path such as ``gs://bucket/report``):

* ``tidy/``: every stored value a row, every field of its spec a column, as one parquet dataset partitioned by model
  (pandas: ``pd.read_parquet("tidy")``; DuckDB: ``read_parquet('tidy/*/*.parquet', hive_partitioning=true)``);
* ``wide.csv`` and ``wide.parquet``: one row per run (model, weights digest, precision, seed, max_examples,
  protocol, reference dataset) with a column per value: the nine QUBA columns, the generalization study's and the
  error study's;
* ``index.html``: the self-contained report (works offline) over every run, beside the 326 published models.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from etils import epath

from jaxquba.errors import UserError, run_cli
from jaxquba.report import interactive


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> epath.Path:
    parser = argparse.ArgumentParser(prog="python -m jaxquba.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="results store(s), comma-separated (OUTPUT_DIR/store)")
    parser.add_argument("--models", default="", help="only models matching these globs, comma-separated")
    parser.add_argument("--out", default="jaxquba_report", help="folder of the tables and index.html")
    args = parser.parse_args(argv)
    stores = _list(args.store)
    if not stores:
        raise UserError("--store: give at least one results store")
    index = interactive.write(stores, args.out, _list(args.models))
    print(f"report: {index}")
    return index


if __name__ == "__main__":
    run_cli(lambda: main(sys.argv[1:]))
