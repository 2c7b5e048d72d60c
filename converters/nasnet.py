"""timm ``nasnetalarge`` state dicts -> :mod:`jaxquba.models.nasnet` parameters (the Flax modules carry timm's
module paths as names)."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    return convert_by_module_names(reader, expected_params(spec))
