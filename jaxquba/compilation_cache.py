"""The app's two caches of compiled steps, on by default under one folder: JAX's persistent compilation cache, and
jaxquba's executable cache in its ``executables`` subfolder (:mod:`jaxquba.engine.executable_cache`), which is
looked up before the step is traced. A step the executable cache holds is compiled past JAX's cache (an executable
JAX's cache serves does not serialise whole on XLA:CPU); JAX's cache serves the steps it cannot hold (a user's
``apply``, a view no spec string names, several processes) and every other jitted function.

A pass's jitted step takes minutes to compile on a CPU (it holds every view of the pass) and is the same program for
every checkpoint of one architecture: parameters are arguments of the step, not constants, so XLA's cache key (the
program, the compile options and the devices) does not depend on the weights, and neither does the executable
cache's key. With the caches on disk a rerun, a resumed run and the second checkpoint of a sweep load the compiled
step instead of compiling it again.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR = "~/.cache/jaxquba/xla"
OFF = ("", "none", "off")
EXECUTABLES = "executables"


def enable(directory: str | os.PathLike | None = DEFAULT_DIR) -> Path | None:
    """Stores compiled programs under ``directory`` (``None``, ``""``, ``"none"`` or ``"off"``: no cache).
    Returns the folder in use, or None. Programs that compile faster than jax's threshold (1 s by default;
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` sets it) are not worth a file and are not stored."""
    from jaxquba.errors import UserError
    import jax

    if directory is None or str(directory).lower() in OFF:
        return None
    folder = Path(directory).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--compilation_cache={directory}: cannot create the folder ({e.strerror}); give a writable "
                        "folder, or --compilation_cache=none") from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder


def executables_folder(directory: str | os.PathLike | None) -> Path | None:
    """The executable cache's folder under ``directory`` (the ``--compilation_cache`` flag), or None where the
    caches are off."""
    if directory is None or str(directory).lower() in OFF:
        return None
    return Path(directory).expanduser() / EXECUTABLES
