"""Where the reference data in ``../shared/data`` lives (tests and benchmarks only; never needed by users).

``JAXQUBA_SHARED_DATA`` overrides the location; the default is ``<repo>/../shared/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """The shared data folder, or None where it is absent (a user's fresh machine)."""
    path = Path(os.environ.get("JAXQUBA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    return path if (path / "MANIFEST.md").is_file() else None
