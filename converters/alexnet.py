"""torchvision ``alexnet`` state dicts -> :mod:`jaxquba.models.alexnet` parameters (Flax names are torchvision's
module paths); ``classifier.1``'s Linear over the (C, H, W)-flattened 6x6 map becomes a 6x6 conv kernel."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    def read(key: str):
        tensor = reader(key)
        if key == "classifier.1.weight" and tensor.ndim == 2:  # (4096, 256 * 6 * 6) -> (4096, 256, 6, 6)
            return tensor.reshape(tensor.shape[0], -1, 6, 6)
        return tensor

    return convert_by_module_names(read, expected_params(spec))
