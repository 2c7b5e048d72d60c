"""--views: view specs from the command line become the views dimension's passes (planned like any other pass) and
its values, named by the same spec strings as the stored outputs."""

import types

import numpy as np
import pytest

import jaxquba.models  # noqa: F401  (the built-in registry)
from jaxquba import zoo
from jaxquba.app.planning import DatasetState, plan_model
from jaxquba.dimensions.base import Context
from jaxquba.engine import Outputs
from jaxquba.errors import UserError
from jaxquba.studies import resolve
from jaxquba.protocols import PROTOCOLS

SPECS = "corrupt(name=fog,severity=3),fgsm(eps=4,space=pixel)"


def test_views_from_the_command_line_are_planned_and_reduced():
    [dim] = resolve("views")
    settings = types.SimpleNamespace(datasets=["ref"], seed=0, data_dir=None, views=SPECS)
    plan = plan_model(zoo.get("tf_efficientnet_lite0"), settings, {"ref": DatasetState("ref", "ref", object())},
                      [dim], PROTOCOLS["quba_paper"])
    [requests] = plan.groups.values()
    names = [r.view.name for r in requests]
    assert names == ["clean", "corrupt(name=fog,severity=3)", "fgsm(eps=4,space=pixel)"]

    labels = np.array([0, 1, 2, 3])
    predictions = {"clean": [0, 1, 2, 3], names[1]: [0, 1, 9, 9], names[2]: [9, 9, 9, 3]}
    outputs = Outputs({v: {"top1": np.array(p)} for v, p in predictions.items()}, labels, np.arange(4), {})
    [(_, ctx, _)] = plan.dimensions
    values = dim.reduce({"ref": outputs}, ctx)
    assert [(v.value, v.spec) for v in values] == [
        (1.0, "top1@ref[view=clean]"), (0.5, "top1@ref[view=corrupt(name=fog,severity=3)]"),
        (0.25, "top1@ref[view=fgsm(eps=4,space=pixel)]")]


def test_no_views_given_skips_with_the_reason():
    [dim] = resolve("views")
    ctx = Context("ref", PROTOCOLS["quba_paper"], 0, zoo.get("tf_efficientnet_lite0"))
    with pytest.raises(UserError, match="--views"):
        dim.passes(ctx)
