"""The studies and every dimension by name.

A study is one package: ``jaxquba/quba/`` (QUBA, "Beyond Accuracy"), ``jaxquba/generalization/`` (the bias study,
Gavrikov & Keuper 2024) and ``jaxquba/error_analysis/`` (the error study, Peychev et al. 2023). Each package's
``dimensions`` module holds the study's settings class and registers its dimensions under the study's suite name
(``SUITE``, which ``--dimensions=<suite>`` selects); the rest of the package is the study's library (tables,
references, report pieces). Studies import the shared layers only, never one another.

Importing this module imports the dimension framework's own dimensions (:mod:`jaxquba.dimensions`: accuracy,
views) and every study's, so :func:`resolve` sees them all.
"""

from __future__ import annotations

from typing import Iterable

import jaxquba.dimensions  # noqa: F401  (registers the framework's own dimensions)
from jaxquba.dimensions.base import Dimension, registered
from jaxquba.error_analysis import dimensions as error_study
from jaxquba.errors import UserError, closest
from jaxquba.generalization import dimensions as bias_study
from jaxquba.quba import dimensions as quba_study

STUDIES = (quba_study, bias_study, error_study)  # each study's dimensions module (its SUITE, settings, dimensions)
DEFAULT_SUITE = quba_study.SUITE  # what 'all' means


def all_dimensions() -> list[Dimension]:
    known = registered()
    return [known[n] for n in sorted(known)]


def resolve(names: str | Iterable[str]) -> list[Dimension]:
    """Dimensions by name (a comma list; ``all`` = the QUBA suite; a suite name = its dimensions); an unknown
    name raises UserError with the closest names."""
    known = {d.name: d for d in all_dimensions()}
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    suites: dict[str, list[str]] = {}
    for d in known.values():
        suites.setdefault(d.suite, []).append(d.name)
    suites["all"] = suites.get(DEFAULT_SUITE, [])
    names = [m for n in names for m in (suites[n] if n in suites and n not in known else [n])]
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = {n: closest(n, known) for n in unknown}
        raise UserError("unknown dimension(s) " + ", ".join(
            f"{n!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for n, h in hints.items())
            + f". Known: {', '.join(known)}; or a suite: {', '.join(sorted(suites))}.")
    return [known[n] for n in dict.fromkeys(names)]
