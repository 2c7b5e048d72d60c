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
then a small block left in the freed space makes the heap grow by a buffer again): the FGSM step then took 163-200 ms. The cost is that the process keeps its high-water mark of host memory until it exits,
which an evaluation holds anyway on every batch.

It must run before JAX starts its CPU client (the first JAX computation), so that the worker threads attach to the
one arena. The command line (``--retain_host_memory``) and ``bench/attacks.py --retain_host_memory`` call it; the
library never does by itself.

Why it is opt-in: with the settings, about half of the processes ran small kernels persistently slower for their whole
life (pixelate at batch 8 in 3.7 instead of 1.0 ms, JPEG in 3.5 instead of 2.7 ms, best of 20 calls; 5 of 10
processes, against 0 of 15 without the settings). ``M_ARENA_MAX`` alone did not do it and the heap settings alone
did, so it comes with serving the buffers from the heap; the cause (placement of the buffers in the heap is the
suspect) is not known yet.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8

_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))


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
