"""The harness: minigrad against PyTorch in one process, taking turns run by run.

A benchmark is a file in benchmarks/ with a docstring and `cases(opts) -> list[Case]`; `run.py`
finds it, times every case and writes the results. Each Case builds, when asked, one timed run
for each library (the same model, the same weights, the same batches):

    def cases(opts):
        def make():
            ...                                   # build both sides from the same numpy arrays
            return minigrad_run, torch_run        # callables: one timed run each
        return [Case("char LSTM training", make, work=SEQ * BATCH * steps, unit="tokens/s")]

How the numbers are taken:
- Both libraries get the same thread count, or nothing runs: numpy's BLAS through threadpoolctl,
  torch through torch.set_num_threads (`match_threads`).
- The runs alternate, minigrad then torch, `repeat` times (A B A B ...), after `warmup` untimed
  pairs; on a GPU each run ends with a device synchronize. A burst of load from another process
  falls on one pair, so the figure quoted is the median of the paired speed ratios
  (torch's seconds / minigrad's seconds: above 1 means minigrad is faster), with the 25th and
  75th percentiles of those ratios as its spread. The garbage collector stays on, as in a
  user's training loop.
- Peak memory (cases with memory=True): on the CPU, the rise of the resident set during one run,
  in a fresh process per library; on a GPU, the peak bytes in use by each library's allocator
  (cupy's memory pool, torch.cuda.max_memory_allocated).
- Kernels (on a GPU): one more run of each library under torch.profiler, which sees every CUDA
  kernel of the process (cupy's too): kernels launched per step and their GPU time, and the
  kernels where minigrad's GPU time goes.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python benchmarks/x.py` imports the minigrad of this clone

UNITS = {  # how seconds per run turn into the figure shown for each library
    "tokens/s": lambda seconds, work: work / seconds,
    "steps/s": lambda seconds, work: work / seconds,
    "GFLOP/s": lambda seconds, work: work / seconds,
    "us/op": lambda seconds, work: seconds * 1e6 / work,
}


class HarnessError(Exception):
    """The harness cannot give a fair comparison here (printed as one line, exit status 2)."""


@dataclass
class Case:
    """One row of the table. `make()` builds both sides and returns (minigrad_run, torch_run), or
    (minigrad_run, torch_run, notes) with a dict of facts to report (e.g. same tokens generated)."""

    name: str
    make: Callable[[], tuple]
    work: float                      # units of work in one run: tokens, steps, GFLOP, ops
    unit: str = "tokens/s"           # a key of UNITS
    repeat: int = 7                  # timed pairs (--repeat and --quick override)
    warmup: int = 1                  # untimed pairs first
    flops: float | None = None       # floating-point operations in one run (for the share of the matmul peak)
    memory: bool = False             # also measure each library's peak memory over one run
    matmul_peak: bool = False        # this row measures the matmul peak that the flops rows are compared with
    steps: int = 1                   # what one run repeats (training steps, ops): on a GPU, kernels are counted
    per: str = "step"                # per one of these ("step", "op")


@dataclass
class Result:
    benchmark: str
    case: str
    unit: str
    runs: int
    minigrad: float                  # median figure in `unit`
    torch: float
    ratio: float                     # median of the paired speed ratios (>1: minigrad faster)
    ratio_q1: float
    ratio_q3: float
    minigrad_seconds: list = field(default_factory=list)
    torch_seconds: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


# -- the two libraries on the same footing ------------------------------------------------------------
def import_torch():
    try:
        import torch
    except ImportError:
        raise HarnessError("PyTorch is not installed, and every benchmark is a ratio against it: "
                           "pip install -e '.[bench]'") from None
    return torch


_thread_limit = None  # threadpoolctl's limit, kept for the whole run


def match_threads(n: int) -> dict:
    """Give numpy's BLAS and torch `n` threads each and check that both took it; refuse otherwise.

    Returns what the table states: each library's BLAS and its thread count."""
    global _thread_limit
    torch = import_torch()
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        raise HarnessError("threadpoolctl is not installed, so numpy's BLAS cannot be given the same thread "
                           f"count as torch ({n}): pip install -e '.[bench]'") from None
    _thread_limit = threadpool_limits(limits=n, user_api="blas")
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        raise HarnessError("threadpoolctl finds no BLAS library under numpy, so its thread count cannot be "
                           "set or checked; install numpy from its wheels (which bring OpenBLAS)")
    counts = sorted({p["num_threads"] for p in pools})
    if counts != [n]:
        raise HarnessError(f"asked for {n} BLAS thread(s), but numpy's BLAS reports {counts} after "
                           "threadpoolctl's limit; unset OPENBLAS_NUM_THREADS / MKL_NUM_THREADS and retry")
    torch.set_num_threads(n)
    if torch.get_num_threads() != n:
        raise HarnessError(f"asked torch for {n} thread(s), it reports {torch.get_num_threads()}")
    blas = pools[0]
    torch_blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return {
        "numpy_blas": f"{blas['internal_api']} {blas.get('version') or ''} "
                      f"({blas.get('threading_layer', '?')}, {blas.get('architecture', '?')})".replace("  ", " "),
        "numpy_threads": counts[0],
        "torch_blas": torch_blas.group(1) if torch_blas else "unknown",
        "torch_threads": torch.get_num_threads(),
    }


class Device:
    """Where both libraries run, how to wait for it, and how its memory is counted."""

    def __init__(self, name: str, tf32: bool = False):
        self.name = name
        self.torch = import_torch()
        self.cupy = None
        if name == "cpu":
            self.info = {"device": "cpu", "cpu": _cpu_model(), "tf32": "n/a on a CPU"}
            return
        from minigrad import backend  # the only module that imports cupy

        # cupy reads CUPY_TF32 at its first float32 matmul; torch has a flag for matmuls and one for
        # cuDNN (on by default): both are set the same way here, before anything runs
        os.environ["CUPY_TF32"] = "1" if tf32 else "0"
        self.cupy = backend.cupy_module()
        if self.cupy is None:
            raise HarnessError("--device cuda: cupy is not installed or sees no GPU; pip install -e '.[gpu]' "
                               "on a machine with CUDA 12, or use --device cpu")
        if not self.torch.cuda.is_available():
            raise HarnessError("--device cuda: this torch has no CUDA (a CPU build?); install a CUDA build of "
                               "torch==2.13.0, or use --device cpu")
        self.torch.backends.cuda.matmul.allow_tf32 = tf32
        self.torch.backends.cudnn.allow_tf32 = tf32
        gpu = self.cupy.cuda.runtime.getDeviceProperties(0)["name"]
        self.info = {"device": "cuda", "gpu": gpu.decode() if isinstance(gpu, bytes) else gpu,
                     "cupy": self.cupy.__version__,
                     "tf32": f"{'on' if tf32 else 'off'} for both (CUPY_TF32={os.environ['CUPY_TF32']}, "
                             f"torch allow_tf32={self.torch.backends.cuda.matmul.allow_tf32}, "
                             f"cudnn.allow_tf32={self.torch.backends.cudnn.allow_tf32}"
                             + (f", NVIDIA_TF32_OVERRIDE={os.environ['NVIDIA_TF32_OVERRIDE']}"
                                if "NVIDIA_TF32_OVERRIDE" in os.environ else "") + ")"}

    def sync_minigrad(self):
        if self.cupy is not None:
            self.cupy.cuda.Device().synchronize()

    def sync_torch(self):
        if self.cupy is not None:
            self.torch.cuda.synchronize()

    def kernel_counts(self, minigrad_run, torch_run, steps: int, top: int = 12) -> dict:
        """Kernels each library launches per step, and minigrad's kernels that take the most GPU time.

        torch.profiler records every kernel of the process through CUPTI (cupy's as well as torch's),
        so one profiled run of each library counts both the same way."""
        out = {}
        for lib, run, sync in (("minigrad", minigrad_run, self.sync_minigrad), ("torch", torch_run, self.sync_torch)):
            kernels = profiled_kernels(self.torch, run, sync)
            out[lib] = len(kernels) / steps
            out[f"{lib}_gpu_ms"] = sum(us for _, us in kernels) / 1e3 / steps
            if lib == "minigrad":
                out["minigrad_top"] = top_kernels(kernels, top)
        return out

    def peak_memory_mib(self, minigrad_run, torch_run) -> dict:
        """Peak bytes in use by each library's allocator over one run (a GPU only), in MiB."""
        cp, torch = self.cupy, self.torch
        pool = cp.get_default_memory_pool()

        class PeakInUse(cp.cuda.MemoryHook):  # the pool's bytes in use, looked at after every allocation
            name = "minigrad_bench_peak"

            def __init__(self):
                self.peak = pool.used_bytes()

            def malloc_postprocess(self, **kwargs):
                self.peak = max(self.peak, pool.used_bytes())

        self.sync_minigrad()
        with PeakInUse() as hook:
            minigrad_run()
            self.sync_minigrad()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        torch_run()
        torch.cuda.synchronize()
        return {"minigrad": hook.peak / 2**20, "torch": torch.cuda.max_memory_allocated() / 2**20,
                "how": "peak bytes in use: cupy's memory pool vs torch.cuda.max_memory_allocated"}


def profiled_kernels(torch, run, sync) -> list[tuple[str, float]]:
    """(name, GPU microseconds) of every kernel that one run launches (copies and fills left out)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        sync()
    return [(e.name, e.time_range.elapsed_us()) for e in prof.events()
            if e.device_type == DeviceType.CUDA and not e.name.startswith(("Memcpy", "Memset"))]


def top_kernels(kernels: list[tuple[str, float]], top: int) -> list[dict]:
    """The kernels that took the most GPU time in total: name (shortened), calls, total ms, share."""
    totals: dict = {}
    for name, us in kernels:
        calls, total = totals.get(name, (0, 0.0))
        totals[name] = (calls + 1, total + us)
    whole = sum(us for _, us in kernels) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1][1])[:top]
    return [{"kernel": name[:80], "calls": calls, "ms": round(us / 1e3, 3), "share": round(us / whole, 3)}
            for name, (calls, us) in ranked]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- timing ---------------------------------------------------------------------------------------------
def wall_seconds(run, sync) -> float:
    t0 = time.perf_counter()
    run()
    sync()
    return time.perf_counter() - t0


def cpu_seconds(run, sync) -> float:
    """CPU time of this process (all its threads): with one thread on a machine shared with other
    jobs, the time spent waiting for a core does not count, so paired ratios scatter less."""
    t0 = time.process_time()
    run()
    sync()
    return time.process_time() - t0


CLOCKS = {"wall": wall_seconds, "cpu": cpu_seconds}


def paired_runs(minigrad_run, torch_run, repeat: int, warmup: int = 1,
                sync_minigrad=lambda: None, sync_torch=lambda: None, clock=wall_seconds):
    """Seconds of each run, the libraries taking turns: minigrad, torch, minigrad, torch, ..."""
    for _ in range(warmup):
        minigrad_run(), sync_minigrad(), torch_run(), sync_torch()
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(clock(minigrad_run, sync_minigrad))
        theirs.append(clock(torch_run, sync_torch))
    return ours, theirs


def paired_ratios(minigrad_seconds, torch_seconds) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile) of the per-pair speed ratios torch_s / minigrad_s."""
    if len(minigrad_seconds) != len(torch_seconds) or not minigrad_seconds:
        raise ValueError(f"paired_ratios: need the same number of runs from both, got {len(minigrad_seconds)} "
                         f"and {len(torch_seconds)}")
    ratios = [t / m for m, t in zip(minigrad_seconds, torch_seconds)]
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return median, q1, q3


def measure(benchmark: str, case: Case, device: Device, repeat: int | None = None, profile: bool = False,
            clock: str = "wall") -> Result:
    """Build the case, time it in pairs, and (memory=True) measure each library's peak memory on a GPU
    (on the CPU, run.py measures it in fresh processes)."""
    made = case.make()
    minigrad_run, torch_run = made[0], made[1]
    notes = made[2] if len(made) > 2 else {}
    n = repeat or case.repeat
    ours, theirs = paired_runs(minigrad_run, torch_run, n, case.warmup, device.sync_minigrad, device.sync_torch,
                               CLOCKS[clock])
    show = UNITS[case.unit]
    ratio, q1, q3 = paired_ratios(ours, theirs)
    result = Result(benchmark, case.name, case.unit, n, show(statistics.median(ours), case.work),
                    show(statistics.median(theirs), case.work), ratio, q1, q3, ours, theirs, dict(notes))
    if case.matmul_peak:
        result.extra["matmul_peak"] = True
    if case.flops:
        result.extra["minigrad_gflops"] = case.flops / statistics.median(ours) / 1e9
        result.extra["torch_gflops"] = case.flops / statistics.median(theirs) / 1e9
    if case.memory and device.cupy is not None:
        result.extra["peak_mib"] = device.peak_memory_mib(minigrad_run, torch_run)
    if device.cupy is not None:
        result.extra["kernels"] = {"per": case.per, **device.kernel_counts(minigrad_run, torch_run, case.steps)}
    if profile:
        print_profile(minigrad_run, case.name)
    return result


def add_peak_shares(results: list[Result]) -> None:
    """The share of the matmul peak each flops row reaches, against the same peak for both libraries:
    the faster of the two libraries' rates on the matmul-peak row of the same run."""
    peaks = [max(r.extra["minigrad_gflops"], r.extra["torch_gflops"]) for r in results if r.extra.get("matmul_peak")]
    if not peaks:
        return
    for r in results:
        if "minigrad_gflops" in r.extra and not r.extra.get("matmul_peak"):
            r.extra["minigrad_share_of_peak"] = r.extra["minigrad_gflops"] / peaks[0]
            r.extra["torch_share_of_peak"] = r.extra["torch_gflops"] / peaks[0]


# -- peak memory on the CPU: a fresh process per library -----------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def rss_rise_mib(run) -> float:
    """How far the resident set rises above where it stood, during one call of run (sampled every
    half millisecond from a thread: numpy and torch release the GIL in their kernels)."""
    before = _rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return (max(peak[0], _rss_bytes()) - before) / 2**20


def cpu_peak_memory_mib(runner: Path, benchmark: str, case_name: str, opts_json: str) -> dict:
    """Each library's RSS rise over one run of the case, each in a fresh process (run.py --memory-of)."""
    out = {}
    for lib in ("minigrad", "torch"):
        done = subprocess.run([sys.executable, str(runner), benchmark, "--memory-of", case_name, lib,
                               "--opts-json", opts_json],
                              capture_output=True, text=True)
        if done.returncode:
            raise HarnessError(f"measuring {lib}'s memory for {case_name!r} failed: {done.stderr.strip()[-500:]}")
        out[lib] = json.loads(done.stdout.strip().splitlines()[-1])["rss_rise_mib"]
    out["how"] = "rise of the resident set during one run, a fresh process per library"
    return out


# -- where minigrad's time goes -------------------------------------------------------------------------
def print_profile(run, title: str, top: int = 20) -> None:
    """cProfile of one minigrad run, by CPU time spent in each function itself."""
    import cProfile
    import pstats

    prof = cProfile.Profile(time.process_time)
    prof.enable()
    run()
    prof.disable()
    print(f"\ncProfile of one minigrad run of {title} (CPU seconds, sorted by time in the function itself):")
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(top)


def release_memory(device: Device) -> None:
    """Between cases: drop what the last one built, so that it does not weigh on the next."""
    gc.collect()
    if device.cupy is not None:
        device.cupy.get_default_memory_pool().free_all_blocks()
        device.torch.cuda.empty_cache()
