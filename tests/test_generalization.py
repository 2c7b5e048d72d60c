"""Generalization study (P2) pure functions: spectral bias, ReaL (both modes), corruption means, aggregates, the
results table, rank correlations and their heatmap; checked on hand-made inputs and against the published table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxquba.errors import UserError
from jaxquba.generalization import aggregates as agg
from jaxquba.generalization import benchmarks, correlations, real, spectral_bias as sb, table as tbl
from jaxquba.views.spectral import CUTOFFS


def test_lpp_hpp_and_spectral_bias_on_hand_made_accuracies():
    clean = 80.0
    low = {c: 80.0 * c for c in CUTOFFS}  # ratio = c
    high = {c: 8.0 for c in CUTOFFS}  # ratio = 0.1
    ratios = sb.bandpass_ratios(clean, low, high)
    assert len(ratios) == 22 and ratios["metric/bandpass/LFC/0.3"] == pytest.approx(0.3)
    assert sb.lpp(ratios) == pytest.approx(0.3)  # mean of 0.1..0.5
    assert sb.hpp(ratios) == pytest.approx(0.1)
    assert sb.spectral_bias(0.3, 0.1) == pytest.approx(0.25)
    assert np.isnan(sb.spectral_bias(0.0, 0.0))
    with pytest.raises(UserError, match="missing"):
        sb.bandpass_ratios(clean, {0.1: 1.0}, high)


def test_published_spectral_bias_is_hpp_over_lpp_plus_hpp():
    p = tbl.published()
    recomputed = p["HPP"] / (p["LPP"] + p["HPP"])
    # LPP has 3 decimals, HPP and SpecBias 4: |d SB| <= (5e-5 * LPP + 5e-4 * HPP) / (L + H)^2 + 5e-5 < 1.5e-4 here
    assert np.max(np.abs(recomputed - p["spectral_bias"])) < 1.5e-4


def test_real_accuracy_proper_skips_empty_label_sets():
    multi_hot = np.zeros((5, 10), bool)
    multi_hot[0, [1, 2]] = True
    multi_hot[1, 3] = True
    multi_hot[2, 4] = True
    multi_hot[4, 9] = True  # row 3 has no labels: left out
    predictions = np.array([2, 3, 0, 7, 1])  # hits on rows 0, 1; misses on 2, 4
    assert real.real_accuracy(predictions, multi_hot) == pytest.approx(50.0)
    with pytest.raises(UserError, match="no image"):
        real.real_accuracy(predictions, np.zeros((5, 10), bool))


def test_real_last_batch_follows_imagefolder_order():
    rng = np.random.default_rng(0)
    n, classes = 1100, 20  # batch 512: the last batch is ImageFolder positions 1024..1099 (76 images)
    labels = np.repeat(np.arange(classes), n // classes)
    names = np.array([f"val_{i:05d}" for i in rng.permutation(n)])
    shuffle = rng.permutation(n)  # the source's stored order is not ImageFolder order
    labels, names = labels[shuffle], names[shuffle]
    multi_hot = np.zeros((n, classes), bool)
    multi_hot[np.arange(n), labels] = True
    multi_hot[rng.random(n) < 0.05] = False  # some empty label sets
    predictions = np.where(rng.random(n) < 0.7, labels, (labels + 1) % classes)

    order = real.imagefolder_order(labels, names)
    in_order = list(zip(labels[order], names[order]))
    assert in_order == sorted(in_order)
    tail = order[1024:]
    assert len(tail) == 76
    kept = multi_hot[tail].any(axis=1)
    expected = 100.0 * np.mean(predictions[tail][kept] == labels[tail][kept])
    assert real.real_accuracy_last_batch(predictions, multi_hot, order) == pytest.approx(expected)
    assert real.real_accuracy(predictions, multi_hot) != pytest.approx(expected)
    assert real.last_batch(50_000) == slice(49_664, 50_000)  # the study's 336 images


def test_published_real_values_are_multiples_of_100_over_326():
    values = tbl.published()["top1_acc/imagenet-real"].to_numpy()
    nearest = np.round(values * 326 / 100) * 100 / 326
    assert np.max(np.abs(values - nearest)) <= 0.005  # 2-decimal rounding of k * 100/326


def test_study_corruption_lists_are_views_the_engine_has():
    """Each study names its own corruption list; both must be corruptions the views implement, in their order."""
    from jaxquba.metrics.robustness import CORRUPTIONS as QUBA_C_ROB
    from jaxquba.views.corruptions import CORRUPTION_NAMES
    assert benchmarks.IMAGENET_C_CORRUPTIONS == CORRUPTION_NAMES and len(benchmarks.IMAGENET_C_CORRUPTIONS) == 19
    assert QUBA_C_ROB == CORRUPTION_NAMES[:15]


def test_corruption_mean():
    accs = {(c, s): float(i) for i, (c, s) in enumerate((c, s) for c in benchmarks.IMAGENET_C_CORRUPTIONS
                                                          for s in range(1, 6))}
    assert len(accs) == 95 and benchmarks.corruption_mean(accs, benchmarks.IMAGENET_C_CORRUPTIONS) == 47.0
    del accs[("saturate", 5)]
    with pytest.raises(UserError, match="19 x 5"):
        benchmarks.corruption_mean(accs, benchmarks.IMAGENET_C_CORRUPTIONS)


def test_published_aggregates_recompute_from_their_members():
    p = tbl.published()
    recomputed = pd.DataFrame([agg.aggregates(row) for _, row in p.iterrows()], index=p.index)
    # members and aggregates are published to 2 decimals: mean error <= 0.005, plus 0.005 for the aggregate itself
    assert (recomputed - p[list(agg.AGGREGATES)]).abs().max().max() <= 0.01


def test_results_table_orders_columns_and_stacks_with_published():
    rows = {"m": {"top1_acc/imagenet": 70.0, "top1_acc/imagenet-v2": 60.0, "top1_acc/imagenet-real": 80.0,
                  "top1_acc/PGD-40/low": 5.0, "shape-bias": 0.3, "metric/bandpass/LFC/0.1": 0.5}}
    table = tbl.results_table(rows)
    assert list(table.columns) == ["top1_acc/imagenet", "top1_acc/imagenet-v2", "top1_acc/imagenet-real",
                                   "top1_acc/PGD-40/low", "ID", "Adversarial", "shape-bias",
                                   "metric/bandpass/LFC/0.1"]
    assert table.loc["m", "ID"] == pytest.approx(70.0) and "Robustness" not in table.columns
    both = tbl.side_by_side(table, ["tv_resnet50"])
    assert list(both.index) == ["m", "tv_resnet50"] and both.loc["tv_resnet50", "ID"] == 75.26
    assert "metric/bandpass/LFC/0.1" not in both.columns  # not in the published excerpt


def test_rank_correlations_on_a_hand_made_table(tmp_path):
    table = pd.DataFrame({"shape-bias": [1, 2, 3, 4, 5.0], "LPP": [1, 3, 2, 4, np.nan],
                          "ID": [10, 20, 30, 40, 50.0], "Robustness": [5, 4, 3, 2, 1.0]},
                         index=list("abcde"))
    rho = correlations.rank_correlations(table, "spearman", aggregates=["ID", "Robustness"])
    tau = correlations.rank_correlations(table, "kendall", aggregates=["ID", "Robustness"])
    assert rho.loc["shape-bias", "ID"] == pytest.approx(1.0) and rho.loc["shape-bias", "Robustness"] == pytest.approx(-1.0)
    # LPP vs ID over a..d: ranks (1,3,2,4) vs (1,2,3,4): rho = 1 - 6*2/(4*15) = 0.8; tau = (5 - 1)/6
    assert rho.loc["LPP", "ID"] == pytest.approx(0.8) and tau.loc["LPP", "ID"] == pytest.approx(4 / 6)
    few = correlations.rank_correlations(table.iloc[:2], "spearman", aggregates=["ID"])
    assert few.isna().all().all()  # fewer than 3 models: undefined
    with pytest.raises(UserError, match="no column"):
        correlations.rank_correlations(table, "spearman", biases=["HPP"], aggregates=["ID"])
    path = correlations.correlation_heatmap({"spearman": rho, "kendall": tau}, tmp_path / "corr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_published_population_correlations_have_the_studys_signs():
    """On the 48 published models: shape bias correlates negatively with ID and HPP positively with Robustness
    (the study's headline observations), and Kendall's tau has the sign of Spearman's rho wherever |rho| > 0.2."""
    p = tbl.published()
    rho = correlations.rank_correlations(p, "spearman")
    tau = correlations.rank_correlations(p, "kendall")
    assert rho.loc["shape-bias", "ID"] < -0.5 and rho.loc["HPP", "Robustness"] > 0.5
    strong = (rho.abs() > 0.2).to_numpy()
    assert strong.sum() >= 10 and (np.sign(rho.to_numpy()[strong]) == np.sign(tau.to_numpy()[strong])).all()


def test_p2_suite_data_configs_and_dataset_layouts(tmp_path):
    from jaxquba.generalization import dimensions as G
    from jaxquba import zoo
    from jaxquba.dimensions.base import Context, Pass
    from jaxquba.studies import resolve
    from jaxquba.protocols import PROTOCOLS
    from jaxquba.zoo import DataConfig

    assert not any(d.suite == "p2" for d in resolve("all"))  # 'all' stays the QUBA suite
    p2 = resolve("p2")
    assert len(p2) == 13

    model = DataConfig(input_size=240, crop_pct=0.9, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3)
    datasets = G.P2Datasets(imagenet_c_root=str(tmp_path / "inc"))
    val = Pass.of("imagenet2012", [], [], G.pass_preprocess("imagenet2012", datasets)).data_config(model)
    assert (val.input_size, val.crop_pct * 256, val.interpolation) == (224, 224, "bilinear")  # Resize 256 -> 224
    assert val.mean == (0.5,) * 3  # normalisation stays the model's
    specs = datasets.imagenet_c()
    assert len(set(specs.values())) == 95 and specs[("fog", 3)] == f"folder:{tmp_path / 'inc' / 'fog' / '3'}"
    assert G.pass_preprocess(specs[("fog", 3)], datasets)["crop_pct"] == 1.0  # as stored
    assert G.P2Datasets().imagenet_c()[("saturate", 5)] == "imagenet2012_corrupted/saturate_5"

    with pytest.raises(UserError, match="--p2_imagenet_cbar"):
        G.P2Datasets().imagenet_cbar()
    for c in benchmarks.IMAGENET_CBAR_CORRUPTIONS:
        for level in ("0.8", "0.2", "1.0", "0.4", "0.6"):
            (tmp_path / "cbar" / c / level).mkdir(parents=True)
    cbar = G.P2Datasets(imagenet_cbar_root=str(tmp_path / "cbar")).imagenet_cbar()
    assert len(cbar) == 50 and cbar[("sparkles", 1)].endswith("sparkles/0.2") and cbar[("sparkles", 5)].endswith("1.0")

    # Every pass of every P2 dimension carries the study's preprocessing, from the settings in the context.
    ctx = Context("imagenet2012", PROTOCOLS["pixel"], 0, zoo.get("tf_efficientnet_lite0"),
                  studies={"p2": G.P2Datasets(imagenet_cbar_root=str(tmp_path / "cbar"))})
    passes = {d.name: d.passes(ctx) for d in p2}
    assert len(passes["p2_imagenet_cbar"]) == 50 and passes["p2_imagenet_cbar"][0].dataset == cbar[(
        benchmarks.IMAGENET_CBAR_CORRUPTIONS[0], 1)]
    crops = {dict(p.preprocess)["crop_pct"] for ps in passes.values() for p in ps}
    assert all(dict(p.preprocess)["input_size"] == 224 for ps in passes.values() for p in ps)
    assert crops == {1.0, 224 / 256}  # as stored (C-bar, C, mvh sets) or Resize 256 -> 224


def summary_entry(model: str, values: dict[str, float]) -> dict:
    return {"model": model, "results": [{"dimension": "p2_x", "name": k, "value": v} for k, v in values.items()]
            + [{"dimension": "accuracy", "name": "top1", "value": 0.5}]}


def test_study_report_from_a_summary(tmp_path):
    from jaxquba.generalization import report
    base = {"top1_acc/imagenet": 70.0, "top1_acc/imagenet-v2": 60.0, "top1_acc/imagenet-real": 80.0,
            "top1_acc/imagenet-real/last_batch": 85.0, "top1_acc/PGD-40/low": 5.0,
            "metric/criticalband/bw_norm": float("nan"), "metric/criticalband/bw_norm/p2_paper": 11295.35}
    summary = {"models": [summary_entry(f"m{i}", {**base, "top1_acc/imagenet": 70.0 + i, "shape-bias": 0.1 * i,
                                                  "top1_acc/PGD-40/low": 10.0 - i}) for i in range(4)]}
    rows = report.rows_from_summary(summary, "p2_paper")
    assert rows["m0"]["top1_acc/imagenet-real"] == 85.0 and rows["m0"]["metric/criticalband/bw_norm"] == 11295.35
    assert "top1" not in rows["m0"]  # only the P2 dimensions' values
    corrected = report.rows_from_summary(summary, "corrected")
    assert corrected["m0"]["top1_acc/imagenet-real"] == 80.0 and np.isnan(corrected["m0"]["metric/criticalband/bw_norm"])

    paths = report.write_study_report(rows, tmp_path)
    rho = pd.read_csv(paths["correlations_spearman"], index_col="bias")
    # shape bias rises with ID (imagenet +1 per model) and falls with Adversarial (PGD -1 per model)
    assert rho.loc["shape-bias", "ID"] == pytest.approx(1.0) and rho.loc["shape-bias", "Adversarial"] == pytest.approx(-1.0)
    assert paths["heatmap"].read_bytes()[:4] == b"\x89PNG"
    side = pd.read_csv(paths["side_by_side"], index_col="model")
    assert len(side) == 4 + 48 and set(side["source"]) == {"jaxquba", tbl.PUBLISHED_SOURCE}
    with_published = report.write_study_report(rows, tmp_path / "pop", with_published=True)
    assert "correlations_kendall" in with_published
    with pytest.raises(UserError, match="no generalization-study values"):
        report.rows_from_summary({"models": [summary_entry("m", {})]})
