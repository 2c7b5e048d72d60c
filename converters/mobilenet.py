"""timm MobileNetV2 / MobileNetV3 state dicts -> Flax params (module paths match timm's, as for EfficientNet)."""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    """Flax params of a ``mobilenet``-family spec from a timm state dict."""
    return convert_by_module_names(reader, expected_params(spec))
