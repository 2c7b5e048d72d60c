"""Shared test fixtures.

Tests that read ``../shared/data`` use the ``shared_data`` fixture: where the folder is absent they skip with the
reason, and with ``JAXQUBA_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``) the skip becomes a failure, so CI always
runs them. Tests that need PyTorch/timm use ``timm_module`` the same way (``JAXQUBA_REQUIRE_TORCH=1``), and tests
that open a page in headless Chromium (Debian package ``chromium``) use ``chromium`` (``JAXQUBA_REQUIRE_CHROMIUM=1``).
"""

from __future__ import annotations

import os
import shutil

import jax
import pytest

from jaxquba.testing.shared_data import shared_data_dir

# Parity tests compare float32 numerics; XLA's CPU default would already be exact, but accelerators are not.
jax.config.update("jax_default_matmul_precision", "highest")


def _missing(what: str, env_var: str, how: str):
    if os.environ.get(env_var) == "1":
        pytest.fail(f"{what} is required here ({env_var}=1) but missing: {how}")
    pytest.skip(f"{what} not available: {how}")


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if path is None:
        _missing("../shared/data", "JAXQUBA_REQUIRE_SHARED_DATA",
                 "place the shared reference data beside the repo or set JAXQUBA_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def timm_module():
    try:
        from converters.torch_env import import_timm
        return import_timm()
    except Exception as e:  # UserError or an import failure inside torch
        _missing("PyTorch + timm", "JAXQUBA_REQUIRE_TORCH", f"pip install -e '.[test]' ({e})")


@pytest.fixture(scope="session")
def bcos_module(timm_module):
    """The ``bcos`` package (B-cos reference models), under the same rule as ``timm_module``."""
    try:
        from converters.torch_env import import_bcos
        return import_bcos()
    except Exception as e:
        _missing("the bcos package", "JAXQUBA_REQUIRE_TORCH", f"pip install -e '.[test]' ({e})")


@pytest.fixture(scope="session")
def chromium():
    """The path of a headless-capable Chromium."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    _missing("Chromium", "JAXQUBA_REQUIRE_CHROMIUM", "apt-get install -y chromium (Debian package)")


def pytest_configure(config):
    config.addinivalue_line("markers", "large: large model variants (slow on CPU; CI runs them)")
    config.addinivalue_line("markers", "multiprocess: spawns extra processes (jax.distributed, SIGKILL tests)")
