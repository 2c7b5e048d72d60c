"""torchvision ``mnasnet*`` state dicts -> :mod:`jaxquba.models.mnasnet` parameters.

torchvision's ``layers`` Sequential: 0/1 stem conv + BN, 3/4 and 6/7 the depthwise-separable block's convs + BNs,
8-13 the six stacks (``layers.{8+j}.{i}.layers`` 0/1 expand, 3/4 depthwise, 6/7 project), 14/15 the 1280-channel
head conv + BN; ``classifier.1`` the Linear. They are read under the Flax module's names.
"""

from __future__ import annotations

from typing import Any

from converters.efficientnet import convert_by_module_names
from converters.load import expected_params
from converters.state_dict import StateDictReader
from jaxquba import zoo
from jaxquba.models.mnasnet import STACKS

_LEAVES = ("weight", "bias", "running_mean", "running_var")


def torchvision_names() -> dict[str, str]:
    """Flax module path -> torchvision module path, for every conv, BN and the classifier."""
    names = {"conv_stem": "layers.0", "bn1": "layers.1", "blocks.0.0.conv_dw": "layers.3",
             "blocks.0.0.bn1": "layers.4", "blocks.0.0.conv_pw": "layers.6", "blocks.0.0.bn2": "layers.7",
             "conv_head": "layers.14", "bn2": "layers.15", "classifier": "classifier.1"}
    ir = (("conv_pw", 0), ("bn1", 1), ("conv_dw", 3), ("bn2", 4), ("conv_pwl", 6), ("bn3", 7))
    for j, (_, _, _, repeats) in enumerate(STACKS):
        for i in range(repeats):
            names.update({f"blocks.{j + 1}.{i}.{ours}": f"layers.{8 + j}.{i}.layers.{slot}" for ours, slot in ir})
    return names


def convert(reader: StateDictReader, spec: zoo.ModelSpec) -> dict[str, Any]:
    names = {f"{ours}.{leaf}": f"{theirs}.{leaf}" for ours, theirs in torchvision_names().items() for leaf in _LEAVES}
    return convert_by_module_names(lambda key: reader(names.get(key, key)), expected_params(spec))
