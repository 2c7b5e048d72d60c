"""Readers for the study's published outputs (eth-sri/automated-error-analysis): the per-model stats CSV and the
``common_error_samples/most_common_<type>.txt`` lists of frequent erroneous (image, prediction) pairs.

Users pass the paths of their own copies; nothing here is shipped with jaxquba.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd

from jaxquba.errors import UserError

SAMPLE_KINDS = ("overlapping_classes", "multi_label", "fg", "fg-OOV", "non-proto", "spurious_correlation",
                "model_failure")
_HEADER = re.compile(r"^\d+\) cnt mistakes = (\d+), file = (\S+)$")
_FIELD = re.compile(r"^(target|pred) = (\d+),")


@dataclasses.dataclass(frozen=True)
class ErrorSample:
    """One listed error: how many of the 962 models made it, the image, its target, multi-label set and prediction."""

    num_models: int
    file_name: str  # 'ILSVRC2012_val_xxxxxxxx.JPEG'
    target: int
    multi_labels: tuple[int, ...]
    prediction: int


def read_error_samples(path: str | Path) -> list[ErrorSample]:
    """Parses one ``most_common_<type>.txt`` file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: give the common_error_samples folder of eth-sri/automated-error-analysis")
    samples, block = [], None
    for line in path.read_text().splitlines() + [""]:
        header = _HEADER.match(line)
        if header:
            block = {"num_models": int(header[1]), "file_name": header[2].split("/")[-1], "multi_labels": []}
        elif block is None:
            continue
        elif line == "multi_labels:":
            block["in_labels"] = True
        elif (field := _FIELD.match(line)):
            key = "target" if field[1] == "target" else "prediction"
            block[key] = int(field[2])
            block["in_labels"] = False
        elif block.get("in_labels") and re.match(r"^\d+, n\d{8}:", line):
            block["multi_labels"].append(int(line.split(",", 1)[0]))
        elif not line.strip() and "prediction" in block:
            block.pop("in_labels", None)
            samples.append(ErrorSample(**{**block, "multi_labels": tuple(block["multi_labels"])}))
            block = None
    return samples


def read_published_stats(path: str | Path) -> pd.DataFrame:
    """The study's ``non_problematic_stats_<group>.csv`` (one row per published model)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: give stats-imagenet/non_problematic_stats_all.csv of "
                        "eth-sri/automated-error-analysis")
    return pd.read_csv(path)
