"""The ``views`` dimension: top-1 accuracy on the reference dataset under each view named on the command line
(``--views=corrupt(name=fog,severity=3),fgsm(eps=4)``), beside the clean top-1. A view is named the same way in
the command line, the planner and the stored results (:mod:`jaxquba.views.registry`)."""

from __future__ import annotations

from typing import Mapping

from jaxquba import value_spec
from jaxquba.dimensions.accuracy import view_accuracy
from jaxquba.dimensions.base import Context, Dimension, Pass, Value, register
from jaxquba.engine import Outputs
from jaxquba.errors import UserError
from jaxquba.views.base import CLEAN
from jaxquba.views.registry import parse_list


def _passes(ctx: Context) -> tuple[Pass, ...]:
    views = parse_list(ctx.views)
    if not views:
        raise UserError("the views dimension measures the views given by --views=SPEC,... (none given)")
    return (Pass.of(ctx.dataset, [CLEAN, *views], ["top1"]),)


def _reduce(outputs: Mapping[str, Outputs], ctx: Context) -> list[Value]:
    out = outputs[ctx.dataset]
    return [Value("top1", view_accuracy(out, view.name), value_spec.render("top1", ctx.dataset, view=view.name))
            for view in [CLEAN, *parse_list(ctx.views)]]


VIEWS = register(Dimension("views", "top-1 on the reference dataset under each --views view", _passes, _reduce,
                           suite="views"))
