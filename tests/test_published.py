"""The published QUBA table's names: every row maps to a registry name (or says why not), the listing's coverage
count, parameter counts against the table, and timm tags derived from their pretrained config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from jaxquba import loader, models, zoo
from jaxquba.models import inception_v3
from jaxquba.errors import UserError

REPO = Path(__file__).resolve().parent.parent

# Published rows that resolve to a registered model, per architecture group of the table. Exact for the groups
# whose families issue 15 ports (raise the number when a family or tag lands; the listing test fails until it is
# raised, so the count stays true).
EXPECTED_COVERAGE = {"CNN": 167}

# A floor for the groups that sibling issues port in parallel (they raise it as they land; kept apart from the line
# above so that landings of both do not touch the same lines).
COVERAGE_FLOOR = {"Bcos": 12, "TRA": 115, "VLM": 28}

ROWS = zoo.published_rows()

# Published rows whose Params column counts parameters that the evaluated network does not have: the difference,
# stated (and explained) by the family that registers the model. InceptionV3: torchvision's training-only auxiliary
# classifier, which torchvision's model keeps after loading its weights.
PARAMS_NOT_EVALUATED = {"InceptionV3": inception_v3.INCEPTION_V3_AUX_PARAMS}


def resolved_rows():
    return [(row, name) for row in ROWS for name in [zoo.published_status(row)[0]] if name is not None]


def test_every_row_of_the_table_is_listed_once_with_a_source_or_a_reason():
    assert len(ROWS) == 326 and [r.row for r in ROWS] == list(range(326))
    for row in ROWS:
        name, why = zoo.published_status(row)
        assert (name is None) != (why == ""), row
        assert row.registry or row.note, f"{row.published}: neither a registry name nor a reason"


def test_list_models_published_prints_the_coverage(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jaxquba.main", "--list_models", "--published"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 + 326 + 1
    covered = {g: sum(name is not None for row, name in resolved_rows() if row.arch_group == g)
               for g in {r.arch_group for r in ROWS}}
    per_group = ", ".join(f"{g} {n}/{sum(r.arch_group == g for r in ROWS)}" for g, n in sorted(covered.items()))
    assert lines[-1] == f"coverage: {sum(covered.values())} of 326 published models resolve ({per_group})"
    assert {g: covered[g] for g in EXPECTED_COVERAGE} == EXPECTED_COVERAGE
    assert all(covered[g] >= n for g, n in COVERAGE_FLOOR.items()), covered
    assert any(line.split()[:2] == ["12", "ResNet50"] and line.endswith("resnet50.tv_in1k") for line in lines)


@pytest.mark.parametrize("row,name", resolved_rows(), ids=lambda x: getattr(x, "published", None))
def test_resolved_rows_match_the_table_params(row, name):
    """The Params column is in millions with one decimal; every resolved model's count must round to it (with the
    parameters the table counts and the network does not have, where stated)."""
    count = zoo.get(name).num_params + PARAMS_NOT_EVALUATED.get(row.published, 0)
    assert round(count / 1e6, 1) == row.params_m, (row.published, name)


def test_published_name_means_the_weights_and_preprocessing_the_paper_evaluated():
    assert zoo.resolve("ResNet50") == "resnet50.tv_in1k"  # torchvision IMAGENET1K_V1, not timm's default tag
    assert zoo.resolve("resnet50") == "resnet50.a1_in1k"  # the timm-style name is unchanged
    # The peer evaluated RSB A3 ResNet-50 with the preprocessing of timm's default resnet50 tag (224, crop 0.95),
    # not the 160 px of the A3 tag: the published name is a spec of its own with the same weights.
    a3, published = zoo.get("resnet50.a3_in1k"), zoo.get("ResNet50-A3")
    assert a3.data.input_size == 160 and published.data.input_size == 224 and published.data.crop_pct == 0.95
    assert dataclasses.replace(published, name=a3.name, data=a3.data, aliases=a3.aliases) == a3


def test_timm_tag_of_a_registered_arch_is_derived_from_its_pretrained_config():
    cfg = {"input_size": (3, 288, 288), "crop_pct": 1.0, "interpolation": "bilinear", "mean": (0.5, 0.5, 0.5),
           "std": (0.5, 0.5, 0.5), "num_classes": 1000, "hf_hub_id": "timm/resnet34.test_a_in1k"}
    spec = loader.derive_timm_tag("resnet34.test_a_in1k", lookup={"resnet34.test_a_in1k": cfg}.get)
    assert zoo.get("resnet34.test_a_in1k") is spec
    assert spec.data == zoo.DataConfig(288, 1.0, "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    base = zoo.get("resnet34")
    assert (spec.family, spec.config, spec.num_params) == (base.family, base.config, base.num_params)
    assert spec.hf_hub_id == "timm/resnet34.test_a_in1k"
    # Another class count: the head is resized and the parameters recounted from the module.
    other = loader.derive_timm_tag("resnet18.test_b_in21k", lookup={"resnet18.test_b_in21k": {**cfg, "num_classes": 11}}.get)
    assert other.config_dict()["num_classes"] == 11
    assert other.num_params == zoo.get("resnet18").num_params - 989 * 513 == models.count_params(other)
    assert loader.derive_timm_tag("resnet18.none", lookup=lambda name: None) is None
    assert loader.derive_timm_tag("not_an_arch.tag", lookup=lambda name: cfg) is None


def test_installed_timm_tags_resolve_offline(timm_module):
    spec = zoo.get("resnet50.ram_in1k")  # not registered by hand: derived from timm's installed registry
    cfg = timm_module.models.get_pretrained_cfg("resnet50.ram_in1k")
    assert (spec.data.input_size, spec.data.crop_pct, spec.data.interpolation) == (
        cfg.input_size[-1], cfg.crop_pct, cfg.interpolation)
    assert spec.hf_hub_id == cfg.hf_hub_id and spec.family == "resnet"
    with pytest.raises(UserError, match="unknown model 'resnet50.no_such_tag'"):
        zoo.get("resnet50.no_such_tag")
