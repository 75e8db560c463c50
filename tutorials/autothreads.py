"""How many BLAS threads `minigrad tour`, `minigrad train` and the lessons run on: a measured rule,
said out loud, and overridden by `--threads N` or MINIGRAD_THREADS=N.

This is the application's choice; the library only offers minigrad.set_num_threads.

Measured on a 2-core machine shared with other work (medians of paired runs in one process, one
BLAS thread against two, taking turns; `python -m minigrad_tutorials.autothreads --measure` repeats it):

    a training step                                   shared machine   + one CPU-bound process
    char-LSTM: embed 64, hidden 256, batch 32, seq 64   4.3x slower      6.8x slower
    GPT: nanoGPT's CPU recipe, batch 12                 4.0x slower      1.8x slower

with two threads. A second thread does pay on large products run back to back (a 1024^3
float32 matmul took 0.56x the time on the same machine), but a training step runs small
products between stretches of elementwise work on the calling thread, and the second BLAS
thread waits for the next product by spinning on a core that the work, or another process,
needs. So:

    up to 2 usable cores   1 thread
    more cores             a calibration at start (a fraction of a second): a small
                           training-like step timed with 1 and 2 threads in turns; 2 only
                           when it is at least PAYS faster, else 1
    OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set by the user: left as they say

`--threads N` (the commands and the lessons) or MINIGRAD_THREADS=N wins over all of these.
"""
from __future__ import annotations

import os
import statistics
import time

from minigrad.threads import get_num_threads, set_num_threads

PAYS = 0.8           # two threads must take at most this share of one thread's time
_chosen: int | None = None  # what this process was given, so a lesson inside the tour does not choose again


def usable_cores() -> int:
    """Cores this process may run on (a container's or taskset's limit, where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def calibrate(pairs: int = 5) -> float:
    """The median over `pairs` of (time with 2 BLAS threads) / (time with 1) of a small
    training-like step: a tanh layer's forward and backward on 1024 x 256 activations."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 256), dtype=np.float32)
    w1, w2 = (rng.standard_normal((256, 256), dtype=np.float32) * 0.06 for _ in range(2))

    def steps():
        t0 = time.perf_counter()
        for _ in range(3):
            h = np.tanh(x @ w1)
            y = h @ w2
            dh = (y @ w2.T) * (1 - h * h)   # elementwise work between the products, as in a real step
            _ = x.T @ dh, h.T @ y
        return time.perf_counter() - t0

    before = get_num_threads()
    ratios = []
    try:
        for _ in range(pairs + 1):   # the first pair warms both pools up and is not counted
            set_num_threads(1)
            one = steps()
            set_num_threads(2)
            two = steps()
            ratios.append(two / one)
    finally:
        set_num_threads(before)
    return statistics.median(ratios[1:])


def choose(cores: int, measure=calibrate) -> tuple[int, str]:
    """(threads, why) by the rule above; `measure()` returns the 2-thread / 1-thread time ratio."""
    if cores <= 2:
        return 1, (f"{cores} core{'s' if cores > 1 else ''}: a second thread made training steps up to 4x slower "
                   "where it was measured")
    ratio = measure()
    if ratio <= PAYS:
        return 2, f"{cores} cores, and a calibration step took {ratio:.2f}x the time on 2 threads"
    return 1, f"{cores} cores, but a calibration step took {ratio:.2f}x the time on 2 threads (not worth it)"


def _parse(value: str, where: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{where}: the thread count must be a whole number >= 1, got {value!r}")
    return int(value)


def apply(requested: int | None = None, log=print, measure=calibrate) -> int:
    """Set numpy's BLAS threads for this process and say so: `requested` (--threads N), else
    $MINIGRAD_THREADS, else what OPENBLAS_NUM_THREADS / OMP_NUM_THREADS asked, else the rule.
    Once a count is set, later calls without a request keep it silently (the tour chooses,
    the lessons it runs do not choose again). Returns the count."""
    global _chosen
    if requested is None and _chosen is not None:
        return _chosen
    override = " (--threads N or MINIGRAD_THREADS=N to change it)"
    if requested is not None:
        n, why = _parse(str(requested), "--threads"), "as asked"
        override = ""
    elif os.environ.get("MINIGRAD_THREADS"):
        n, why = _parse(os.environ["MINIGRAD_THREADS"], "MINIGRAD_THREADS"), "from MINIGRAD_THREADS"
        override = ""
    elif any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        n, why = get_num_threads(), "as OPENBLAS_NUM_THREADS / OMP_NUM_THREADS ask"
    else:
        try:
            n, why = choose(usable_cores(), measure)
        except ImportError:   # no threadpoolctl: the calibration cannot switch pools
            n, why = 1, "the rule's default"
    try:
        set_num_threads(n)
    except ImportError:
        n = get_num_threads()
        if log:
            log(f"numpy BLAS threads: {n} (threadpoolctl is not installed, so minigrad cannot change them: "
                "pip install threadpoolctl, or start with OPENBLAS_NUM_THREADS=1)")
        _chosen = n
        return n
    _chosen = n
    if log:
        log(f"numpy BLAS threads: {n}, {why}{override}")
    return n


def _measure_steps(repeats: int = 9) -> None:
    """Time a char-LSTM step and a GPT step with 1 and 2 threads in turns (the table above)."""
    import numpy as np

    import minigrad as mg
    from minigrad import nn, optim
    from minigrad_models.gpt import GPT, shakespeare_char_config

    rng = np.random.default_rng(0)
    mg.manual_seed(0)
    embed, lstm, head = nn.Embedding(65, 64), nn.LSTM(64, 256, batch_first=True), nn.Linear(256, 65)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    lstm_opt = optim.Adam(params, lr=1e-3)
    lx, ly = mg.tensor(rng.integers(0, 65, (32, 64))), mg.tensor(rng.integers(0, 65, (32 * 64,)))

    def lstm_step():
        h, _ = lstm(embed(lx))
        loss = nn.functional.cross_entropy(head(h.reshape(-1, 256)), ly)
        lstm_opt.zero_grad()
        loss.backward()
        lstm_opt.step()

    gpt = GPT(shakespeare_char_config())
    gpt_opt = gpt.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    gx, gy = rng.integers(0, 65, (12, 64)), rng.integers(0, 65, (12, 64))

    def gpt_step():
        _, loss = gpt(gx, gy)
        gpt_opt.zero_grad()
        loss.backward()
        gpt_opt.step()

    print(f"{usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f}")
    for name, step in (("char-LSTM step", lstm_step), ("GPT step", gpt_step)):
        times = {1: [], 2: []}
        for i in range(repeats + 1):
            for n in (1, 2):
                set_num_threads(n)
                t0 = time.perf_counter()
                for _ in range(3):
                    step()
                if i:  # the first round warms up
                    times[n].append((time.perf_counter() - t0) / 3)
        ratio = statistics.median(b / a for a, b in zip(times[1], times[2]))
        print(f"{name}: 1 thread {statistics.median(times[1]) * 1e3:.0f} ms, 2 threads "
              f"{statistics.median(times[2]) * 1e3:.0f} ms; 2 threads take {ratio:.2f}x the time")


if __name__ == "__main__":
    import sys

    if "--measure" in sys.argv:
        _measure_steps()
    else:
        print(f"the rule's choice here: {choose(usable_cores())}")
