"""torchvision / timm ``inception_v3`` state dicts -> :mod:`jaxquba.models.inception_v3` parameters (the Flax
modules carry the PyTorch module paths as names). The auxiliary classifier (``AuxLogits``, in torchvision's
checkpoint) is a training-only head: it is read and dropped, so that any other stray key still fails the strict
check."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    for key in reader.keys():
        if key.startswith("AuxLogits."):
            reader(key)
    return convert_by_module_names(reader, expected_params(spec))
