"""Which dataset indices each process reads when several hosts evaluate one dataset.

Process ``p`` of ``P`` gets the contiguous block ``indices[p*n//P : (p+1)*n//P]`` of the ordered index list: the
blocks are disjoint, cover every index once, keep the list's order, and differ in size by at most one (the engine
pads the short ones). Contiguous rather than strided blocks keep each host's reads sequential in the
array_record files and make "process p holds examples a..b" easy to state when merging results.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def process_shard(indices: Sequence[int], process_index: int, process_count: int) -> np.ndarray:
    """The part of the ordered ``indices`` that process ``process_index`` of ``process_count`` reads."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    n = len(indices)
    return indices[process_index * n // process_count:(process_index + 1) * n // process_count]
