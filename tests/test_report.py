"""The report: files per model and for the set, a self-contained HTML page that states the protocol."""

import base64
import re

import numpy as np
import pandas as pd
import pytest

from jaxquba import quba
from jaxquba.errors import UserError
from jaxquba.report import write_report
from jaxquba.report.plots import spearman_matrix
from jaxquba.report.tables import to_markdown

MODELS = ["ResNet50", "EVA02-b-21k", "ViT-L-16-SigLIP2-256"]


def _results(models):
    published = quba.published_table().set_index("model")
    return published.loc[models, list(quba.COLUMNS)].reset_index()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(_results(MODELS), out, protocol="pixel"), out


def test_files_per_model_and_for_the_set(report):
    index, out = report
    assert index == out / "index.html"
    for name in ["ranking.csv", "ranking.md", "spearman.png"]:
        assert (out / name).stat().st_size > 0
    for model in MODELS:
        table = pd.read_csv(out / model / "results.csv")
        assert list(table["dimension"]) == list(quba.COLUMNS) and set(table["protocol"]) == {"pixel@v1"}
        assert (out / model / "radar.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "Protocol: `pixel@v1`" in (out / model / "results.md").read_text()
    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking["model"]) == ["EVA02-b-21k", "ResNet50", "ViT-L-16-SigLIP2-256"]
    published = quba.published_table().set_index("model")
    # The report's QUBA is the recomputed score; the published column is rounded to 3 decimals.
    np.testing.assert_allclose(ranking["QUBA"], published.loc[ranking["model"], "QUBA"], atol=5e-4)
    assert ranking["published_rank"].tolist()[0] == 1 and ranking["published_rank"].tolist()[2] == 326


def test_html_is_self_contained_and_names_the_protocol(report):
    index, _ = report
    page = index.read_text()
    assert "Protocol: <b>pixel@v1</b>" in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(MODELS) + 1  # one radar per model and the heatmap
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:4] == b"\x89PNG"
    assert not re.search(r'(href|src)="(?!data:)', page)  # no file or server the page depends on


def test_spearman_and_markdown_helpers():
    values = quba.dimension_values(_results(MODELS + ["AlexNet"]))
    rho = spearman_matrix(values)
    assert rho.shape == (9, 9) and np.allclose(np.diag(rho), 1.0)
    assert to_markdown(pd.DataFrame({"a": [0.5], "b": ["x|y"]})) == "| a | b |\n|---|---|\n| 0.5000 | x\\|y |\n"


def test_user_mistakes(tmp_path):
    results = _results(MODELS[:1])
    with pytest.raises(UserError, match="protocol"):
        write_report(results, tmp_path, protocol="paper")
    with pytest.raises(UserError, match="Shape Bias"):
        write_report(results.drop(columns=["Shape Bias"]), tmp_path, protocol="pixel")
    index = write_report(results, tmp_path, protocol="quba_paper")  # one model: no evaluated-model heatmap
    assert "Fewer than 3 evaluated models" in index.read_text()


def test_a_model_with_a_non_release_c_rob_is_scored_but_not_ranked(tmp_path):
    """Issue 20: a C-Rob not made with the ImageNet-C release's pipeline is not comparable with the published
    values, so the report gives that model no published rank and says why; the others keep theirs."""
    reason = "C-Rob from pipeline=model_input"
    write_report(_results(MODELS), tmp_path, protocol="quba_paper", unranked={"ResNet50": reason})
    ranking = pd.read_csv(tmp_path / "ranking.csv").set_index("model")
    assert pd.isna(ranking.loc["ResNet50", "published_rank"]) and ranking.loc["ResNet50", "note"] == reason
    assert ranking.loc["EVA02-b-21k", "published_rank"] == 1 and pd.isna(ranking.loc["EVA02-b-21k", "note"])
    assert ranking.loc["ResNet50", "QUBA"] == pytest.approx(
        quba.published_table().set_index("model").loc["ResNet50", "QUBA"], abs=5e-4)
    text = (tmp_path / "ResNet50" / "results.md").read_text()
    assert f"not ranked among the published models: {reason}" in text and "rank " not in text
    assert f"not ranked among the published models: {reason}" in (tmp_path / "index.html").read_text()
