"""Timing shared by the benchmark scripts."""

from __future__ import annotations

import time
from typing import Callable


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
