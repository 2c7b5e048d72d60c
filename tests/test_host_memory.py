"""``host_memory.retain_freed_memory``: a compiled step with a large scratch buffer stops faulting its pages in on
every call once glibc keeps freed memory mapped. Each case runs in a fresh process, since the setting must precede
JAX's CPU client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from jaxquba import host_memory

CHILD = textwrap.dedent("""
    import json, resource, sys
    if sys.argv[1] == "retain":
        from jaxquba.host_memory import retain_freed_memory
        assert retain_freed_memory()
    import jax, jax.numpy as jnp

    def step(x, w):
        return jnp.tanh(x @ w) @ w.T  # the (8192, 2048) product in between is the executable's scratch buffer

    x, w = jnp.ones((8192, 64)), jnp.full((64, 2048), 0.01)
    compiled = jax.jit(step).lower(x, w).compile()
    faults = []
    for _ in range(16):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        compiled(x, w).block_until_ready()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(json.dumps({"temp_bytes": compiled.memory_analysis().temp_size_in_bytes, "faults": faults}))
""")


def _faults_per_call(mode: str) -> tuple[int, list[int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc's own settings would interfere
    run = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    return result["temp_bytes"], result["faults"]


@pytest.mark.skipif(host_memory._glibc() is None, reason="the allocator settings are glibc's; this C library is not")
def test_a_large_scratch_buffer_is_faulted_in_once_not_on_every_call():
    temp_bytes, default = _faults_per_call("default")
    pages = temp_bytes // os.sysconf("SC_PAGE_SIZE")
    # 64 MiB is above glibc's largest automatic mmap threshold (32 MiB), so by default every call maps it afresh.
    assert temp_bytes >= 64 * 2**20
    assert min(default[-8:]) > pages // 2, default  # the buffer's pages, touched anew on each call
    _, retained = _faults_per_call("retain")
    # Retained, most calls reuse mapped pages: 100 faults (400 KiB) leaves room for the runtime's small allocations,
    # against the buffer's 16,384 pages. Not every call: now and then a small block left in the freed space makes
    # the heap grow by a buffer again (1-3 of 16 calls in this program, the first ones mostly).
    assert sum(count < 100 for count in retained[-8:]) >= 5, retained


def test_auto_retains_only_where_jax_runs_on_the_cpu(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    assert not host_memory.jax_runs_on_cpu_only()
    assert host_memory.configure("auto") is False  # an accelerator: the allocator is left alone
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert host_memory.jax_runs_on_cpu_only()
    assert host_memory.configure("no") is False


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="auto"):
        host_memory.configure("always")
