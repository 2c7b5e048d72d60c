"""Views by name: every view kind registers the function that makes it, so a view's spec string parses back into
the view (``parse("corrupt(name=fog,severity=3)")``). Stored results, the planner and the command line
(``--views=``) name views the same way.

A spec is ``kind`` or ``kind(key=value,...)`` (:func:`jaxquba.views.base.spec_name` writes them, keys sorted);
values that read as integers or decimals become numbers, the others stay strings. The kind's maker is called with
the spec's fields as keyword arguments and must give a view of the same canonical name.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any, Callable

from jaxquba.errors import UserError, closest
from jaxquba.value_spec import split_top_level
from jaxquba.views.base import CLEAN, View

_KINDS: dict[str, Callable[..., View]] = {}
_SPEC = re.compile(r"^([a-z_][a-z0-9_]*)(?:\((.*)\))?$")


def register(kind: str, make: Callable[..., View]) -> None:
    """Adds the maker of the views named ``kind(...)``; a kind registered twice with another maker is an error."""
    if _KINDS.get(kind, make) is not make:
        raise ValueError(f"view kind {kind!r} registered twice")
    _KINDS[kind] = make


def kinds() -> list[str]:
    """Every registered view kind (importing each view module first)."""
    _import_view_modules()
    return sorted(_KINDS)


def parse_fields(spec: str) -> tuple[str, dict[str, Any]]:
    """``kind(k=v,...)`` -> (kind, {k: v}); UserError where ``spec`` is not of that form."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise UserError(f"view {spec!r} is not of the form kind or kind(key=value,...)")
    kind, body = match.group(1), match.group(2)
    fields = {}
    for item in filter(None, (body or "").split(",")):
        key, eq, value = item.partition("=")
        if not eq or not re.fullmatch(r"\s*\w+\s*", key) or not re.fullmatch(r"\s*[\w.+-]+\s*", value):
            raise UserError(f"view {spec!r}: {item!r} is not key=value")
        fields[key.strip()] = _value(value.strip())
    return kind, fields


def parse(spec: str) -> View:
    """The view named ``spec``; UserError for an unknown kind (with the closest names) or bad fields."""
    if spec.strip() == CLEAN.name:
        return CLEAN
    kind, fields = parse_fields(spec)
    known = kinds()
    if kind not in _KINDS:
        hint = closest(kind, known)
        raise UserError(f"unknown view kind {kind!r}" + (f" (did you mean {', '.join(hint)}?)" if hint else "")
                        + f". Known: clean, {', '.join(known)}.")
    try:
        return _KINDS[kind](**fields)
    except (TypeError, ValueError) as e:
        raise UserError(f"view {spec!r}: {e}") from None


def maker(spec: str) -> Callable[..., View] | None:
    """The function that makes the views of ``spec``'s kind; None for ``clean`` and for a kind not registered."""
    _import_view_modules()
    match = _SPEC.match(spec.strip())
    return _KINDS.get(match.group(1)) if match else None


def parse_list(text: str) -> list[View]:
    """The views of a comma list of specs (``--views=corrupt(name=fog,severity=3),fgsm(eps=4)``): commas inside a
    spec's brackets do not split it."""
    return [parse(spec) for spec in split_top_level(text) if spec.strip()]


def _value(text: str) -> Any:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)(e-?\d+)?", text):
        return float(text)
    return text


def _import_view_modules() -> None:
    """Imports every module of :mod:`jaxquba.views` (each registers its kinds when imported)."""
    import jaxquba.views as package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(info.name)
