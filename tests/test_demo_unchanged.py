"""A refactor's check that every number the app prints is unchanged: the README's ``--demo`` run by this tree and by
an earlier revision of the repository, compared value for value.

Opt-in: set ``JAXQUBA_DEMO_BASE`` to the revision from before the change (``JAXQUBA_DEMO_BASE=origin/main``, or a
commit hash); the test exports that revision with ``git archive``, runs both demos on the same photos and weights,
and requires the summaries (every value, spec, skip reason and dataset) and the printed tables to be equal.
Nothing is recorded in the test: both sides are computed when it runs. It is opt-in because a change that is meant
to move numbers (a fixed metric, a new dimension) differs from every earlier revision by design; such a change
states its numbers in its commit instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def demo(tree: Path, out: Path) -> tuple[dict, str]:
    """(summary.json, printed table) of ``python -m jaxquba.main --demo`` run from ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-m", "jaxquba.main", "--demo", f"--output_dir={out}",
                           f"--data_dir={out.parent / 'no_tfds'}"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary["models"]:  # seconds of compiling differ from run to run; every value must not
        entry.pop("compile_seconds", None)
    return summary, done.stdout.split("\nsummary: ")[0]


def test_demo_summary_equals_the_base_revision(tmp_path):
    base = os.environ.get("JAXQUBA_DEMO_BASE")
    if not base:
        pytest.skip("opt-in refactor check: set JAXQUBA_DEMO_BASE=<revision from before the change>")
    before_tree = tmp_path / "base"
    before_tree.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", base], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        pytest.fail(f"cannot export revision {base!r}: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive.stdout, check=True)

    before, before_table = demo(before_tree, tmp_path / "before")
    after, after_table = demo(REPO, tmp_path / "after")
    assert after["models"] and after["models"][0]["results"]  # the comparison below is not of two empty runs
    assert after_table == before_table
    assert after == before  # every value exactly: the same computation must give the same floats
