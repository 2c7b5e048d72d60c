"""torchvision ``googlenet`` state dicts -> :mod:`jaxquba.models.googlenet` parameters (the Flax modules carry
torchvision's module paths as names). The checkpoint's auxiliary classifiers (``aux1``, ``aux2``) are training-only
heads: they are read and dropped, so that any other stray key still fails the strict check."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    for key in reader.keys():
        if key.startswith(("aux1.", "aux2.")):
            reader(key)
    return convert_by_module_names(reader, expected_params(spec))
