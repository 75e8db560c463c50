"""Shared helpers for the benchmarks: fair timing of minigrad against PyTorch in one process.

    from common import Comparison, median_time
    cmp = Comparison("op overhead", unit="us/op")
    cmp.add("tanh chain", minigrad_fn, torch_fn, scale=1e6 / n_ops)
    cmp.print()

Call `set_threads()` first: numpy's BLAS and PyTorch then use the same number of threads.
Both libraries run in the same process and take turns run by run, so that load from other
processes falls on both alike; each number is the median of several timed runs after a
warm-up, so one slow run does not decide the result. Ratios (minigrad / torch) are the
figure to quote; absolute times depend on the machine.
"""
from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# run from anywhere: `python benchmarks/op_overhead.py` imports the minigrad next to it
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def numpy_threads() -> int:
    """How many threads numpy's BLAS uses (threadpoolctl when installed, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info

        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    return os.cpu_count() or 1


_thread_limit = None  # keeps threadpoolctl's limit alive for the whole run


def set_threads(n: int | None = None) -> int:
    """Give numpy's BLAS and PyTorch the same number of threads (default: what numpy has).

    On a busy shared machine, 1 thread for both gives steadier numbers than several threads
    spinning against other processes."""
    global _thread_limit
    if n is not None:
        try:
            from threadpoolctl import threadpool_limits

            _thread_limit = threadpool_limits(limits=n, user_api="blas")
        except ImportError:
            print("(threadpoolctl is not installed: numpy keeps its own thread count)")
    n = numpy_threads() if n is None else n
    torch = import_torch()
    if torch is not None:
        torch.set_num_threads(n)
    return n


def import_torch():
    """torch, or None when it is not installed (call set_threads to match thread counts)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _timed_runs(fns, repeat: int, number: int, warmup: int) -> list[list[float]]:
    """Seconds per call of each fn, `repeat` times, the fns taking turns run by run, so that
    a burst of load from another process hits all of them alike. The garbage collector is
    paused while timing, as timeit does."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    gc_was_on = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for fn, out in zip(fns, times):
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                out.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_on:
            gc.enable()
    return times


def median_time(fn, repeat: int = 15, number: int = 1, warmup: int = 2) -> float:
    """Median over `repeat` runs of the seconds one call of fn takes (each run averages
    `number` calls)."""
    return statistics.median(_timed_runs([fn], repeat, number, warmup)[0])


class Comparison:
    """Rows of minigrad-vs-torch timings, printed as one table."""

    def __init__(self, title: str, unit: str = "us"):
        torch = import_torch()
        self.torch_threads = torch.get_num_threads() if torch is not None else None
        self.title = title
        self.unit = unit
        self.rows: list[dict] = []

    def add(self, case: str, minigrad_fn, torch_fn=None, scale: float = 1e6, **timing) -> dict:
        """Time both callables; `scale` turns seconds per call into the table's unit."""
        timing = {"repeat": 15, "number": 1, "warmup": 2, **timing}
        fns = [minigrad_fn] + ([torch_fn] if torch_fn is not None else [])
        runs = _timed_runs(fns, **timing)
        medians = [statistics.median(t) * scale for t in runs]
        mine, ref = medians[0], (medians[1] if torch_fn is not None else None)
        row = {"case": case, "minigrad": mine, "torch": ref, "ratio": (mine / ref) if ref else None}
        if torch_fn is not None:  # the fastest runs: what is left when no other process got in the way
            row["ratio_min"] = min(runs[0]) / min(runs[1])
        self.rows.append(row)
        return row

    def print(self) -> None:
        def fmt(v, spec):
            return "n/a" if v is None else format(v, spec)

        print(f"\n{self.title}  ({self.unit}; ratio = minigrad / torch, lower is better)")
        print(f"python {platform.python_version()}, numpy BLAS threads: {numpy_threads()}, "
              f"torch threads: {self.torch_threads}, {platform.machine()}")
        width = max([len(r["case"]) for r in self.rows] + [4])
        print(f"{'case':<{width}}  {'minigrad':>10}  {'torch':>10}  {'ratio':>6}  {'ratio of fastest runs':>21}")
        for r in self.rows:
            print(f"{r['case']:<{width}}  {fmt(r['minigrad'], '10.2f')}  {fmt(r['torch'], '10.2f')}  "
                  f"{fmt(r['ratio'], '6.2f')}  {fmt(r.get('ratio_min'), '21.2f')}")
        print("(times are medians; on a busy machine the ratio of the fastest runs is the steadier figure)")


def profile(train_steps, steps, top=25):
    """Where minigrad's time goes: cProfile over `steps` training steps, sorted by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    train_steps(steps)
    profiler.disable()
    print(f"\ncProfile of {steps} minigrad training steps (sorted by time spent in the function itself):")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(top)
