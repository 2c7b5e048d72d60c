"""Forks app runs (``python -m jaxquba.main ...``) without paying for Python's imports each time, so a test can start
and SIGKILL many of them (tests/test_fault_injection.py).

  python tests/app_forkserver.py
      imports JAX, the app and the tiny registered model (tests/untrusted_tiny_model.py) once, without starting a JAX
      backend, then answers one stdin line at a time:
      ``run LOG SLEEP_S ARG...``: forks a child that runs the app's command line ``ARG...`` (its stdout and stderr
      into LOG; its reader sleeping SLEEP_S per batch, so the run lasts long enough for kills to land between chunk
      writes) and prints ``PID <pid>``; ``wait PID TIMEOUT_S``: waits at most TIMEOUT_S for it, reaps it and prints
      ``STATUS killed`` (SIGKILL), ``STATUS exit<code>``, or ``STATUS hung`` for a child still running after
      TIMEOUT_S (it is then killed).

A child is the app as its command line runs it (flags parsed, ``jaxquba.main.main``: the store, the chunked
evaluation, summary.json, the tables and the report); only the process start is a fork instead of an exec. XLA runs
on one CPU thread: the tests compare runs bit for bit, and runs racing each other on a loaded machine once differed
by 2.4e-7 in a logit with XLA's thread pool.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # children load every program the first one compiled
# No thread may exist when the server forks (a lock held by another thread would stay held in the child): numpy's and
# scipy's OpenBLAS pools and pyarrow's jemalloc purger start one at import unless told not to.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["JE_ARROW_MALLOC_CONF"] = "background_thread:false"


def _preload():
    """What an app run imports, imported here once (modules only: a started backend or thread would not survive the
    fork)."""
    import grain.python  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import jaxquba.app.planning  # noqa: F401
    import jaxquba.app.printing  # noqa: F401
    import jaxquba.app.running  # noqa: F401
    import jaxquba.data.folder  # noqa: F401
    import jaxquba.data.pipeline  # noqa: F401
    import jaxquba.data.registry  # noqa: F401  (tensorflow_datasets)
    import jaxquba.dimensions  # noqa: F401
    import jaxquba.loader  # noqa: F401
    import jaxquba.main  # noqa: F401  (defines the app's flags)
    import jaxquba.report.interactive  # noqa: F401  (scipy.stats)
    import jaxquba.run_checks  # noqa: F401
    import untrusted_tiny_model  # noqa: F401  (registers the model)
    from jaxquba.views import registry
    registry.kinds()  # imports every view module


def _slow_reader(sleep_s: float) -> None:
    from jaxquba.data import pipeline
    read = pipeline.host_batches

    def host_batches(*args, **kwargs):
        for batch in read(*args, **kwargs):
            time.sleep(sleep_s)
            yield batch

    pipeline.host_batches = host_batches


def _child(log: str, sleep_s: float, args: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)  # stdout was the server's reply channel
    os.dup2(fd, 2)
    from absl import flags

    import jaxquba.main
    _slow_reader(sleep_s)
    try:
        flags.FLAGS(["jaxquba.main", *args])
        jaxquba.main.main([])
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve() -> None:
    _preload()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        sys.exit(f"the fork server has {threads} threads after its imports; forking it would not be safe")
    print("READY", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            pid = os.fork()
            if pid == 0:
                os._exit(_child(args[0], float(args[1]), args[2:]))
            print("PID", pid, flush=True)
        elif command == "wait":
            print("STATUS", _wait(int(args[0]), float(args[1])), flush=True)


def _wait(pid: int, timeout_s: float) -> str:
    """Reaps ``pid``: ``killed`` (by SIGKILL), ``exit<code>``, or ``hung`` (still running after ``timeout_s``: then
    killed, so that a hang fails a test instead of stalling it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            return "killed" if killed else f"exit{os.waitstatus_to_exitcode(status)}"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.01)


if __name__ == "__main__":
    serve()
