"""Timing shared by the benchmark scripts.

Importing it applies the app's default host-memory setting (:func:`jaxquba.host_memory.configure` ``auto``), so that a
benchmark times the steps as a run executes them; every benchmark imports this module before its first JAX
computation. JAX and its peer share the process, and so the allocator settings.
"""

from __future__ import annotations

import time
from typing import Callable

from jaxquba import host_memory

host_memory.configure("auto")


def best_seconds(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Best wall time of ``repeats`` calls of ``fn``, after one untimed call when ``warmup`` (which compiles jitted
    code). ``fn`` must block until its work is done (``block_until_ready``). The best, not the mean, because on a
    shared machine other jobs only ever add time."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
