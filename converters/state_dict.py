"""Strict reading of a PyTorch-style state dict into a Flax parameter tree.

Every converter reads tensors through a :class:`StateDictReader`, which records which keys were used. After the
conversion, :func:`check_conversion` compares the produced tree with the shapes the Flax module expects and the
reader's unused keys, and raises one :class:`~jaxquba.errors.UserError` that names every missing, unexpected and
mis-shaped entry. A checkpoint therefore either converts completely or fails loudly: never a silent partial load.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import jax
import numpy as np

from jaxquba.errors import UserError

# Buffers that carry no information for inference.
DEFAULT_IGNORED = (r"(^|\.)num_batches_tracked$",)


class StateDictReader:
    """Hands out state-dict tensors as float32 numpy arrays and remembers which keys were taken."""

    def __init__(self, state_dict: Mapping[str, Any], ignore: Iterable[str] = DEFAULT_IGNORED):
        self._sd = dict(state_dict)
        self._ignore = [re.compile(p) for p in ignore]
        self._used: set[str] = set()
        self.missing: list[str] = []

    def __contains__(self, key: str) -> bool:
        return key in self._sd

    def keys(self) -> list[str]:
        return list(self._sd)

    def __call__(self, key: str) -> np.ndarray:
        """The tensor under ``key`` as float32 numpy; a missing key is recorded and a NaN placeholder returned.

        Recording instead of raising lets one conversion report every problem at once.
        """
        if key not in self._sd:
            self.missing.append(key)
            return np.full((0,), np.nan, np.float32)
        self._used.add(key)
        return to_numpy(self._sd[key])

    def unused(self) -> list[str]:
        return sorted(k for k in self._sd if k not in self._used and not any(p.search(k) for p in self._ignore))


class PrefixedReader:
    """The part of a reader's state dict under ``prefix`` (a model wrapped in another module, e.g. RobustBench's
    ``normalize`` + ``model``), read under the inner model's own names; reads are recorded by the wrapped reader."""

    def __init__(self, read: StateDictReader, prefix: str):
        self._read, self._prefix = read, prefix

    def __contains__(self, key: str) -> bool:
        return self._prefix + key in self._read

    def __call__(self, key: str) -> np.ndarray:
        return self._read(self._prefix + key)


def to_numpy(value: Any) -> np.ndarray:
    """float32 numpy from a numpy array or a torch tensor (without importing torch)."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)


def check_conversion(params: Any, expected: Any, reader: StateDictReader, source: str, model: str) -> None:
    """Raises UserError naming every problem if ``params`` does not match ``expected`` exactly.

    ``expected`` is the parameter tree of the Flax module (``jax.eval_shape`` of its init is enough: only shapes are
    compared). ``source`` names the checkpoint in the message, ``model`` the registered model.
    """
    got = {jax.tree_util.keystr(p): np.shape(v) for p, v in jax.tree_util.tree_leaves_with_path(params)}
    want = {jax.tree_util.keystr(p): tuple(v.shape) for p, v in jax.tree_util.tree_leaves_with_path(expected)}
    problems = []
    if reader.missing:
        problems.append(f"missing keys ({len(reader.missing)}): " + _short(reader.missing))
    unexpected = reader.unused()
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + _short(unexpected))
    absent = sorted(set(want) - set(got))
    if absent:
        problems.append(f"parameters the converter did not fill ({len(absent)}): " + _short(absent))
    extra = sorted(set(got) - set(want))
    if extra:
        problems.append(f"converted parameters the model does not have ({len(extra)}): " + _short(extra))
    misshaped = [f"{k} {got[k]} vs expected {want[k]}" for k in sorted(set(got) & set(want)) if got[k] != want[k]
                 and not (got[k] == (0,) and reader.missing)]
    if misshaped:
        problems.append(f"mis-shaped ({len(misshaped)}): " + _short(misshaped))
    if problems:
        hint = _class_count_hint(got, want)
        raise UserError(f"checkpoint {source} does not fit model {model}:\n  " + "\n  ".join(problems)
                        + (f"\n  {hint}" if hint else "")
                        + "\nCheck that the checkpoint was saved from this architecture (or pick the matching --model).")


def _class_count_hint(got: Mapping[str, tuple], want: Mapping[str, tuple]) -> str:
    """Names a classifier-head class-count mismatch explicitly: the most common wrong-checkpoint case."""
    for k in set(got) & set(want):
        g, w = got[k], want[k]
        if ("head" in k or "classifier" in k or "fc" in k) and len(g) == len(w) and g and g[-1] != w[-1] \
                and g[:-1] == w[:-1]:
            return f"class-count mismatch: the checkpoint's head has {g[-1]} classes, the model expects {w[-1]}."
    return ""


def _short(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")
