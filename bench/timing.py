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
    return interleaved_best_seconds({"fn": fn}, repeats, warmup)["fn"]


def interleaved_best_seconds(fns: dict[str, Callable[[], object]], rounds: int,
                             warmup: bool = True) -> dict[str, float]:
    """Best wall time of each of ``fns`` (see :func:`best_seconds`) over ``rounds`` rounds that call every function
    once, in turn, after one untimed call each when ``warmup``. Side-by-side ratios then share the machine's state:
    timed one after the other, a change in the load between the two series (other jobs, frequency, another
    process's threads) lands on one side only."""
    if warmup:
        for fn in fns.values():
            fn()
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
