"""What a run checks about its inputs and outputs before it reports a number (used by :mod:`jaxquba.main`).

* the output folder can be written (a file or a read-only folder is one message, before any work);
* a dataset's left-out files (undecodable images, duplicate rows) are reported, or refused with ``--strict_data``;
* a folder dataset's labels are classes of the model;
* a dataset or a weights source whose fingerprint changed since the store last saw it is named (its outputs are
  recomputed in any case: the fingerprint is part of their spec);
* non-finite model outputs (NaN/inf logits, e.g. from NaN weights) are counted per pass, and a dimension that
  would reduce them reports that instead of a number.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from jaxquba.errors import UserError

FINITE_HEAD = "finite"  # per example: every model output finite (registered in jaxquba.engine.HEADS)
LISTED_FILES = 5  # left-out files and bad rows named in a message; summary.json has them all


def check_output_dir(out_dir: str | os.PathLike) -> None:
    """Raises UserError unless ``out_dir`` is (or can be created as) a writable folder; remote roots pass."""
    from jaxquba.store import is_local
    if not is_local(out_dir):
        return
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise UserError(f"--output_dir={path} is a file, not a folder; pass a folder (it is created if absent)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UserError(f"--output_dir={path} cannot be written ({e.strerror or e}); pass a folder you can write "
                        "to") from None


def left_out_files(source: Any) -> list[dict[str, str]]:
    """The files a source left out, as summary rows {file, reason}."""
    return [{"file": file, "reason": reason} for file, reason in source.skipped]


def refuse_left_out(name: str, source: Any) -> None:
    """``--strict_data``: any left-out file is an error naming the first few."""
    rows = left_out_files(source)
    if rows:
        listed = "; ".join(f"{r['file']}: {r['reason']}" for r in rows[:LISTED_FILES])
        raise UserError(f"{name}: {len(rows)} file(s) cannot be used (--strict_data): {listed}"
                        + (" ..." if len(rows) > LISTED_FILES else ""))


def check_labels(name: str, source: Any, num_classes: int, model: str) -> None:
    """A folder dataset's labels must be classes of the model (``labels_outside`` names the examples)."""
    outside = source.labels_outside(num_classes) if hasattr(source, "labels_outside") else []
    if outside:
        raise UserError(f"{name}: {len(outside)} label(s) are not classes of {model} (0..{num_classes - 1}): "
                        f"{', '.join(outside[:LISTED_FILES])}{' ...' if len(outside) > LISTED_FILES else ''}. "
                        "Fix labels.csv's class_index column")


def changed_input(store: Any, kind: str, key: str, fingerprint: str) -> str | None:
    """A warning line when (kind, key)'s fingerprint differs from the one the store saw last, else None."""
    previous = store.remember(kind, key, fingerprint)
    if previous is None or previous == fingerprint:
        return None
    return (f"{kind} {key} changed since results were last stored (fingerprint {previous} -> {fingerprint}): its "
            "outputs are computed anew")


def with_finite_head(requests: Sequence[Any]) -> tuple:
    """The requests, each also asking for :data:`FINITE_HEAD`."""
    return tuple(r if FINITE_HEAD in r.heads else dataclasses.replace(r, heads=r.heads + (FINITE_HEAD,))
                 for r in requests)


def nonfinite_counts(outputs: Any) -> dict[str, int]:
    """View name -> number of examples whose model outputs are not all finite."""
    return {view: int((~heads[FINITE_HEAD]).sum()) for view, heads in outputs.views.items() if FINITE_HEAD in heads}


def nonfinite_reason(views: Sequence[tuple[str, str]], counts: Mapping[tuple[str, str], int],
                     examples: Mapping[str, int]) -> str | None:
    """Why a dimension reading ``views`` ((dataset, view) pairs) reports no number, or None if all are finite."""
    bad = [f"{view} on {dataset}: {counts[(dataset, view)]} of {examples[dataset]}"
           for dataset, view in views if counts.get((dataset, view))]
    if not bad:
        return None
    return (f"the model's outputs are not finite (NaN/inf) on {len(bad)} pass(es) it reads ({'; '.join(bad[:3])} "
            "examples); check the weights and --precision")
