"""QUBA score: reproduces the published table, weight parsing, ranks, and the command line."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from jaxquba.quba import score as quba
from jaxquba.errors import UserError


def test_recomputed_quba_reproduces_every_published_row():
    table = quba.published_table()
    assert len(table) == 326 and table["model"].is_unique
    scores = quba.quba_scores(quba.dimension_values(table))
    # 1e-3: the published QUBA column is rounded to 3 decimals (|error| <= 5e-4); any wrong constant, weight or
    # sign moves some rows by far more.
    max_diff = np.max(np.abs(scores - table["QUBA"].to_numpy()))
    print(f"max |QUBA recomputed - published| over 326 rows: {max_diff:.2e}")
    assert max_diff < 1e-3


def test_formula_written_out_for_resnet50():
    row = quba.published_table().set_index("model").loc["ResNet50"]
    z = {d.column: (row[d.column] - d.mean) / d.std for d in quba.DIMENSIONS}
    expected = (z["Acc"] + (z["Adv. Rob."] + z["C-Rob."] + z["OOD Rob."]) / 3 - z["Cal. Err."] + z["Class Balance"]
                + (z["Obj. Foc."] + z["Shape Bias"]) / 2 - z["Params"]) / 6
    assert quba.quba_scores(row[list(quba.COLUMNS)].to_numpy(float)[None])[0] == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(-0.310, abs=5e-4)


def test_weight_parsing():
    np.testing.assert_array_equal(quba.parse_weights(None), quba.DEFAULT_WEIGHTS)
    weights = quba.parse_weights("acc=2, params=0")
    assert weights[0] == 2 and weights[-1] == 0 and weights[1] == pytest.approx(1 / 3)
    only_accuracy = quba.parse_weights(",".join(f"{d.key}={int(d.key == 'acc')}" for d in quba.DIMENSIONS))
    values = quba.dimension_values(quba.published_table())
    np.testing.assert_allclose(quba.quba_scores(values, only_accuracy), quba.z_scores(values)[:, 0])
    # Magnitudes with fixed directions: a larger calibration error lowers the score for any positive weight.
    low, high = values[:1].copy(), values[:1].copy()
    high[0, 4] += 0.01
    assert quba.quba_scores(high, quba.parse_weights("cal=5"))[0] < quba.quba_scores(low, quba.parse_weights("cal=5"))[0]
    for bad, message in [("acc", "key=value"), ("accuracy=1", "did you mean 'acc'"), ("acc=x", "not a number"),
                         ("cal=-1", ">= 0"), ("acc=1,acc=2", "twice"), ("acc=nan", ">= 0"),
                         (",".join(f"{d.key}=0" for d in quba.DIMENSIONS), "all weights are 0")]:
        with pytest.raises(UserError, match=message):
            quba.parse_weights(bad)


def test_published_rank_of_new_models():
    table = quba.published_table()
    best = table.loc[table["QUBA"].idxmax(), list(quba.COLUMNS)].to_numpy(float)
    better = best.copy()
    better[0] += 0.01  # more accurate than the best published model -> rank 1
    worse = best.copy()
    worse[8] = 5000.0  # 5000 M parameters -> last
    ranks = quba.published_ranks(quba.quba_scores(np.stack([better, best, worse])))
    assert ranks.tolist() == [1, 1, 327]


def _write_candidates(tmp_path):
    published = quba.published_table().set_index("model")
    table = published.loc[["ResNet50", "AlexNet", "EVA02-b-21k"], list(quba.COLUMNS)].reset_index()
    path = tmp_path / "results.csv"
    table.to_csv(path, index=False)
    return path, published


def test_cli_ranks_a_table_and_writes_json(tmp_path, capsys):
    path, published = _write_candidates(tmp_path)
    out = tmp_path / "ranking.json"
    quba.main([f"--table={path}", f"--json={out}"])
    printed = capsys.readouterr().out
    assert printed.index("EVA02-b-21k") < printed.index("ResNet50") < printed.index("AlexNet")
    records = json.loads(out.read_text())
    assert [r["model"] for r in records] == ["EVA02-b-21k", "ResNet50", "AlexNet"]
    assert [r["rank"] for r in records] == [1, 2, 3]
    exact = pd.Series(quba.quba_scores(quba.dimension_values(published)), index=published.index)
    for r in records:
        assert r["quba"] == pytest.approx(published.loc[r["model"], "QUBA"], abs=5e-4)
        # A published model's values tie with its own row, so its rank among the published is its own position.
        assert r["published_rank"] == 1 + int((exact > exact[r["model"]]).sum())


def test_cli_user_mistakes_without_traceback(tmp_path):
    path, _ = _write_candidates(tmp_path)
    pd.read_csv(path).drop(columns=["Shape Bias"]).to_csv(tmp_path / "missing.csv", index=False)
    cases = [([f"--table={path}", "--quba_weights=acc=1,bogus=2"], "unknown dimension 'bogus'"),
             ([f"--table={tmp_path / 'missing.csv'}"], "missing dimension column"),
             ([f"--table={tmp_path / 'absent.csv'}"], "cannot read")]
    for args, message in cases:
        run = subprocess.run([sys.executable, "-m", "jaxquba.quba", *args], capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_cli_reads_long_and_short_names_in_any_case_and_keeps_row_identity(tmp_path):
    """The published table as the web page names it (display names, which repeat: 326 rows, 211 distinct names), its
    dimension columns renamed to the long names in upper case: every row scores as published and keeps its row."""
    published = quba.published_table().assign(model=lambda t: t["display_name"])
    assert len(published) == 326 and published["model"].nunique() == 211
    renames = {d.column: d.long_name.upper() for d in quba.DIMENSIONS}
    path, out = tmp_path / "long.csv", tmp_path / "ranking.json"
    published.rename(columns=renames).to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-m", "jaxquba.quba", f"--table={path}", f"--json={out}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())
    assert sorted(r["row"] for r in records) == list(published["row"])
    by_row = published.set_index("row")
    for r in records:
        assert r["model"] == by_row.loc[r["row"], "model"]
        assert r["quba"] == pytest.approx(by_row.loc[r["row"], "QUBA"], abs=5e-4)  # published with 3 decimals
    # Without a row column, the row is the position in the file; short names in lower case are read as well.
    table = published.drop(columns=["row"]).rename(columns={c: c.lower() for c in quba.COLUMNS})
    ranked = quba.score_table(table)
    assert sorted(ranked["row"]) == list(range(len(published)))
    twice = published.assign(Accuracy=published["Acc"])
    with pytest.raises(UserError, match="both name 'Acc'"):
        quba.score_table(twice)


def test_cli_exits_quietly_when_the_reader_closes_the_pipe(tmp_path):
    path = tmp_path / "published.csv"
    quba.published_table().to_csv(path, index=False)
    # `true` exits without reading, long before Python has imported pandas: every write meets a closed pipe.
    done = subprocess.run(f"set -o pipefail; {sys.executable} -m jaxquba.quba --table={path} | true", shell=True,
                          executable="/bin/bash", capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
