"""Remote paths, the way big_vision's workdirs take them (etils.epath): the results store, the tidy and wide
tables and the report on a stand-in ``gs://`` bucket (fsspec's in-memory file system registered for the ``gs``
scheme, which has no file locks and no rename of its own), read back from there."""

from __future__ import annotations

import io

import fsspec
import numpy as np
import pandas as pd
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from jaxquba import collate
from jaxquba.store import Store


class _Bucket(MemoryFileSystem):
    """``gs://bucket/key`` kept in memory (keys without a leading slash, as object stores name them)."""

    protocol = ("gs", "gcs")
    root_marker = ""
    store: dict = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for prefix in ("gs://", "gcs://"):
            path = path.removeprefix(prefix)
        return path.rstrip("/")


@pytest.fixture
def bucket(monkeypatch):
    from etils.epath import backend, gpath
    for name in ("gs", "gcs"):
        fsspec.register_implementation(name, _Bucket, clobber=True)
    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)  # the fsspec backend, as without TensorFlow
    backend.fsspec_backend._get_filesystem.cache_clear()
    _Bucket.store.clear()
    yield _Bucket()
    backend.fsspec_backend._get_filesystem.cache_clear()
    _Bucket.store.clear()


RUN = {"model": "m.tag", "weights": "abc", "precision": "bf16", "seed": 0, "protocol": "pixel@v1", "kind": "results",
       "max_examples": 4}


def test_store_tables_and_report_on_a_bucket(bucket):
    store = Store("gs://lab/run1/store")
    entry = store.outputs({"model": "m.tag", "view": "clean", "dataset": "demo"})
    entry.write_chunk(0, 3, {"top1": np.array([1, 2, 3])})
    entry.write_chunk(0, 3, {"top5": np.ones((3, 5), np.int32)})  # merged with the stored chunk
    assert entry.stored_chunks() == [(0, 3)] and entry.chunk_fields(0, 3) == {"top1", "top5"}
    np.testing.assert_array_equal(entry.read_chunk(0, 3)["top1"], [1, 2, 3])
    rows = pd.DataFrame({"dimension": ["accuracy"], "dataset": ["demo"], "name": ["top1"], "value": [0.25],
                         "spec": ["top1@demo"], "column": ["Acc"], "examples": [4], "preprocess": ["resize"],
                         "time": ["2026-01-01T00:00:00+00:00"]})
    store.write_table({**RUN, "dimension": "accuracy", "reference": "demo"}, rows)
    assert {kind for _, kind, _ in store.index()} == {"outputs", "table"}
    assert not [k for k in bucket.store if k.endswith(".tmp")]  # every temporary object was moved into place

    tidy = collate.tidy_table(["gs://lab/run1/store"])
    assert tidy[["model", "precision", "max_examples", "metric", "value", "examples"]].to_dict("records") == [
        {"model": "m.tag", "precision": "bf16", "max_examples": 4, "metric": "top1", "value": 0.25, "examples": 4}]

    from jaxquba.report.interactive import write as build
    index = build(["gs://lab/run1/store"], "gs://lab/report")
    assert str(index) == "gs://lab/report/index.html"
    page = bucket.cat("gs://lab/report/index.html").decode()
    assert '"label":"m.tag"' in page
    wide = pd.read_csv(io.BytesIO(bucket.cat("gs://lab/report/wide.csv")))
    assert wide[["model", "Acc"]].to_dict("records") == [{"model": "m.tag", "Acc": 0.25}]
    part = pd.read_parquet(io.BytesIO(bucket.cat("gs://lab/report/tidy/model=m.tag/part-0.parquet")))
    assert list(part["spec"]) == ["top1@demo"]


def test_study_reports_on_a_bucket(bucket, shared_data):
    """The error study's and the bias study's reports go to a remote folder like the run report, file by file
    through a temporary object (none left behind)."""
    from jaxquba.error_analysis import published, report as errors_report
    from jaxquba.generalization import report as biases_report

    csv = shared_data / "error_analysis" / "eth_sri" / "stats-imagenet" / "non_problematic_stats_all.csv"
    stats = published.read_published_stats(csv)
    row = stats[stats.model_dir_id == "torchvision--alexnet"].iloc[0].to_dict()
    paths = errors_report.write([row], csv, "gs://lab/run1/errors/alexnet")
    assert str(paths["html"]) == "gs://lab/run1/errors/alexnet/errors.html"
    assert bucket.cat("gs://lab/run1/errors/alexnet/errors.png")[:4] == b"\x89PNG"
    table = pd.read_csv(io.BytesIO(bucket.cat("gs://lab/run1/errors/alexnet/errors_table.csv")))
    assert list(table["model_dir_id"]) == ["torchvision--alexnet"]

    base = {"top1_acc/imagenet-v2": 60.0, "top1_acc/imagenet-real": 80.0}  # with ImageNet: the ID aggregate
    rows = {f"m{i}": {**base, "top1_acc/imagenet": 70.0 + i, "top1_acc/PGD-40/low": 10.0 - i, "shape-bias": 0.1 * i}
            for i in range(4)}
    paths = biases_report.write_study_report(rows, "gs://lab/run1/biases")
    assert set(paths) >= {"results", "side_by_side", "correlations_spearman", "heatmap"}
    rho = pd.read_csv(io.BytesIO(bucket.cat("gs://lab/run1/biases/correlations_spearman.csv")), index_col="bias")
    assert rho.loc["shape-bias", "ID"] == pytest.approx(1.0)
    assert not [k for k in bucket.store if k.endswith(".tmp")]
