"""Training speed of a 784-256-10 MLP (batch 128, AdamW, cross-entropy): minigrad against PyTorch.

One step is what a training loop does: forward, loss, zero_grad, backward, optimizer step.
Both libraries train the same architecture on the same random data in the same process,
with the same thread count, in alternating timed runs; each figure is a median.
Run:  python benchmarks/mlp_train.py [--steps 20] [--repeat 9] [--threads 1] [--profile]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import Comparison, import_torch, median_time, profile, set_threads

import minigrad as mg
from minigrad import nn, optim

IN, HIDDEN, OUT, BATCH = 784, 256, 10, 128


def random_batches(n=8, seed=0):
    """A few fixed batches of random "images" and labels, cycled through (no data loading timed)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, IN), dtype=np.float32), rng.integers(0, OUT, size=BATCH))
            for _ in range(n)]


def minigrad_trainer(batches):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    data = [(mg.tensor(x), mg.tensor(y)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    return train_steps


def torch_trainer(torch, batches):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    return train_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    ap.add_argument("--repeat", type=int, default=9, help="timed runs (the median is shown)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for numpy's BLAS and torch (default: numpy's own count)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of minigrad's steps")
    args = ap.parse_args()
    threads = set_threads(args.threads)
    torch = import_torch()

    batches = random_batches()
    ours = minigrad_trainer(batches)
    theirs = torch_trainer(torch, batches) if torch is not None else None
    # The runs alternate (minigrad, torch, minigrad, ...) so that a change in the machine's load
    # hits both alike; the ratio quoted is the median of the per-pair ratios.
    ours(args.steps)
    if theirs:
        theirs(args.steps)
    ours_ms, theirs_ms = [], []
    for _ in range(args.repeat):
        ours_ms.append(median_time(lambda: ours(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
        if theirs:
            theirs_ms.append(median_time(lambda: theirs(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
    table = Comparison(f"MLP {IN}-{HIDDEN}-{OUT}, batch {BATCH}, AdamW, {threads} thread(s)", unit="ms per step")
    mine_ms = statistics.median(ours_ms)
    ref_ms = statistics.median(theirs_ms) if theirs else None
    table.rows.append({"case": "train step (fwd + loss + bwd + AdamW)", "minigrad": mine_ms, "torch": ref_ms,
                       "ratio": mine_ms / ref_ms if ref_ms else None})
    table.print()
    print(f"\nminigrad: {1e3 / mine_ms:.1f} steps/s", end="")
    if theirs:
        speed = statistics.median(t / m for m, t in zip(ours_ms, theirs_ms))
        print(f"   torch: {1e3 / ref_ms:.1f} steps/s   minigrad speed = {speed:.2f}x PyTorch "
              f"(median of {args.repeat} paired runs; goal >= 0.8x)")
    else:
        print("\n(torch is not installed: pip install 'torch==2.13.0' for the comparison)")
    if args.profile:
        profile(ours, args.steps * 5)


if __name__ == "__main__":
    main()
