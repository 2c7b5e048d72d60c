"""Keeps the host memory that XLA:CPU frees, so that the next call of a compiled step does not fault it in again.

Each call of an XLA:CPU executable allocates its scratch buffer (the executable's ``temp_size``) and frees it when it
returns. glibc serves a block that large with ``mmap`` and gives it back with ``munmap`` on free, so every call
touches fresh pages: lite0's FGSM step at batch 8 (a 271 MB buffer) took about 69,000 minor page faults per call,
120-150 ms of kernel time and 60-75 ms of its 215-226 ms wall time on a 2-core CPU. A PGD loop reuses its buffer
across iterations and pays this once per call; a single-step program pays it every time.

:func:`retain_freed_memory` tells glibc to serve large blocks from its heap (``M_MMAP_MAX`` 0) and not to trim the
heap (``M_TRIM_THRESHOLD``), so the pages stay mapped for the next call; and to use one arena (``M_ARENA_MAX`` 1),
because XLA allocates from its worker threads, whose arenas otherwise keep their own heaps (the first two settings
alone did not help). After a few calls the heap has room for the buffer and most calls take no page faults (now and
then a small block left in the freed space makes the heap grow by a buffer again): the FGSM step then took 150-200
ms. The cost is that the process keeps its high-water mark of host memory until it exits, which an evaluation holds
anyway on every batch.

It must run before JAX starts its CPU client (the first JAX computation), so that the worker threads attach to the
one arena. :func:`configure` is what the command line (``--retain_host_memory``, ``auto`` by default) and the
benchmarks (``bench/timing.py``) call; the library never changes the allocator by itself. ``auto`` retains only where
JAX will run on the CPU (no accelerator plugin installed, or ``JAX_PLATFORMS=cpu``): on an accelerator the step's
buffers live in device memory, and one arena for many host threads has not been measured there.

Measured on the 2-core CPU (2026-12-05): with the settings, lite0's forward at batch 32 ran 91 -> 110-119 img/s and
the host pipeline plus that model 72 -> 88-93 img/s, decoding was unchanged (458 -> 490 img/s with two threads); an
interleaved A/B of 20 process pairs timing small kernels (pixelate, JPEG at batch 8) found the machine's occasional
slow processes in both arms alike. The price is in compiling: XLA's compiler threads share the one arena, and the
demo with nothing cached took 105-116 s instead of 95 s (warm: 34 s instead of 38 s). An evaluation's execution
outweighs its compiles (which the compilation cache keeps), hence ``auto``; ``--retain_host_memory=no`` for runs that
mostly compile.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8

_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))
MODES = ("auto", "yes", "no")


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (musl and other platforms have no such knobs), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
    except (OSError, AttributeError):
        return None
    return libc


def retain_freed_memory() -> bool:
    """Sets glibc's allocator to keep freed memory mapped (see the module docstring). Returns whether it was set: False
    where the C library is not glibc, or where glibc refused a setting."""
    libc = _glibc()
    if libc is None:
        return False
    return all(libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in _SETTINGS)


def jax_runs_on_cpu_only() -> bool:
    """Whether JAX will find no accelerator, judged without starting it: ``JAX_PLATFORMS`` when set, else whether a
    PJRT plugin (CUDA, ROCm, ...: the ``jax_plugins`` packages and entry points) or libtpu is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms == "cpu"
    plugins = {entry.name for entry in importlib.metadata.entry_points(group="jax_plugins")}
    try:
        import jax_plugins
        plugins |= {module.name for module in pkgutil.iter_modules(jax_plugins.__path__)}
    except ImportError:
        pass
    return not plugins and importlib.util.find_spec("libtpu") is None


def configure(mode: str = "auto") -> bool:
    """Applies ``mode`` (``auto``: retain where JAX runs on the CPU only; ``yes``; ``no``). Returns whether the
    allocator now retains freed memory. Call it before the first JAX computation."""
    if mode not in MODES:
        raise ValueError(f"host memory mode must be one of {MODES}, got {mode!r}")
    if mode == "no" or (mode == "auto" and not jax_runs_on_cpu_only()):
        return False
    return retain_freed_memory()
