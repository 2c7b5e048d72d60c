"""The one value-spec grammar, ``metric@dataset[key=value,...]``, and the reader of the two older forms."""

import pytest

from jaxquba import value_spec


@pytest.mark.parametrize("spec, fields", [
    ("top1@demo", {"metric": "top1", "dataset": "demo"}),
    ("adv_rob@demo[protocol=quba_paper@v2,attacks=fgsm(eps=8,space=network_input)+pgd(eps=8,steps=10)]",
     {"metric": "adv_rob", "dataset": "demo", "protocol": "quba_paper@v2",
      "attacks": "fgsm(eps=8,space=network_input)+pgd(eps=8,steps=10)"}),
    ("top1_acc/PGD-40/low@demo[view=pgd(eps=0.5,space=pixel,step=2,steps=40)]",
     {"metric": "top1_acc/PGD-40/low", "dataset": "demo", "view": "pgd(eps=0.5,space=pixel,step=2,steps=40)"}),
    ("errors/share_fine_grained@folder:/data/val", {"metric": "errors/share_fine_grained",
                                                   "dataset": "folder:/data/val"}),
    # older stores: the view in parentheses, and a mean over sets named by its first
    ("top1_acc/PGD-40/low@demo(pgd(eps=0.5,space=pixel,step=2,steps=40))",
     {"metric": "top1_acc/PGD-40/low", "dataset": "demo", "view": "pgd(eps=0.5,space=pixel,step=2,steps=40)"}),
    ("top1_acc/imagenet-c@imagenet2012_corrupted/brightness_1+94 more",
     {"metric": "top1_acc/imagenet-c", "dataset": "imagenet2012_corrupted/brightness_1", "sets": "95"}),
])
def test_parse(spec, fields):
    assert value_spec.parse(spec) == fields


def test_render_round_trips_and_refuses_non_specs():
    spec = value_spec.render("top1", "demo", protocol="pixel@v1", view="fgsm(eps=8,space=pixel)")
    assert spec == "top1@demo[protocol=pixel@v1,view=fgsm(eps=8,space=pixel)]"
    assert value_spec.parse(spec) == {"metric": "top1", "dataset": "demo", "protocol": "pixel@v1",
                                      "view": "fgsm(eps=8,space=pixel)"}
    assert value_spec.render("top1", "demo") == "top1@demo"
    with pytest.raises(ValueError):
        value_spec.parse("no dataset here")
    with pytest.raises(ValueError):
        value_spec.render("a@b", "demo")


def test_common_dataset_of_a_family_of_sets():
    assert value_spec.common_dataset(["imagenet2012_corrupted/brightness_1",
                                      "imagenet2012_corrupted/zoom_blur_5"]) == "imagenet2012_corrupted"
    assert value_spec.common_dataset(["folder:/c/fog/1", "folder:/c/snow/5"]) == "folder:/c"
    assert value_spec.common_dataset(["demo"]) == "demo"
