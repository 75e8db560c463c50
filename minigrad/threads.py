"""How many threads numpy's BLAS runs matrix products on: PyTorch's `set_num_threads` / `get_num_threads`.

    import minigrad as mg
    mg.set_num_threads(1)      # one BLAS thread for the rest of this process
    mg.get_num_threads()       # -> 1

numpy hands every matrix product to a BLAS library (OpenBLAS in numpy's wheels), which runs it on a
pool of threads, one per core unless told otherwise. Everything else numpy does (elementwise ops,
reductions) runs on the calling thread whatever this says. The pool's size is fixed when numpy
loads, from OPENBLAS_NUM_THREADS / OMP_NUM_THREADS; to change it while Python runs, these use
threadpoolctl (`pip install threadpoolctl`; the tour and test extras bring it). PyTorch's own pool
(torch.set_num_threads) is a different one and is left alone; cupy's GPU work uses none of them.

Which count is fast depends on the machine and on what else runs on it: see tutorials/autothreads.py,
which chooses one for the `minigrad` commands and the lessons.
"""
from __future__ import annotations

import os

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_num_threads(n: int) -> None:
    """Run numpy's matrix products on `n` threads from now on (every BLAS library numpy loaded)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: the thread count must be a whole number >= 1, got {n!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError("set_num_threads needs threadpoolctl to change numpy's BLAS threads while Python runs: "
                          "pip install threadpoolctl (the tour and test extras bring it), or start Python with "
                          f"OPENBLAS_NUM_THREADS={n}") from None
    # the limit holds after the call returns: threadpool_limits only undoes it when used as a context manager
    threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """How many threads numpy's matrix products run on (the largest pool, if numpy loaded several)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
        if counts:
            return max(counts)
    for name in _ENV_VARS:  # without threadpoolctl: what the pool was started with
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1
