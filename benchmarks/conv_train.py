"""Training speed of a LeNet-sized CNN (batch 64, 28x28 inputs, SGD with momentum): minigrad against PyTorch.

conv(1->6, 5x5, pad 2) relu maxpool(2) conv(6->16, 5x5) relu maxpool(2) flatten linear(400->120) relu
linear(120->84) relu linear(84->10), cross-entropy: LeCun et al.'s LeNet-5 with ReLU and max pooling.
One step is forward, loss, zero_grad, backward, optimizer step. Both libraries train the same
architecture on the same random data in the same process, with the same thread count, in alternating
timed runs; the ratio quoted is the median of the per-pair ratios.
Run:  python benchmarks/conv_train.py [--steps 10] [--repeat 9] [--threads 1] [--profile]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import Comparison, import_torch, median_time, profile, set_threads

import minigrad as mg
from minigrad import nn, optim

BATCH, CLASSES = 64, 10


def random_batches(n=4, seed=0):
    """A few fixed batches of random 28x28 "digits" and labels, cycled through (no data loading timed)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, CLASSES, size=BATCH))
            for _ in range(n)]


def lenet(lib):
    return lib.Sequential(
        lib.Conv2d(1, 6, 5, padding=2), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(6, 16, 5), lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(),
        lib.Linear(400, 120), lib.ReLU(), lib.Linear(120, 84), lib.ReLU(), lib.Linear(84, CLASSES),
    )


def trainer(lib_name, batches, torch=None):
    if lib_name == "minigrad":
        mg.manual_seed(0)
        model, make, functional, optimizer = lenet(nn), mg.tensor, nn.functional, optim.SGD
    else:
        torch.manual_seed(0)
        model, make, functional, optimizer = lenet(torch.nn), torch.from_numpy, torch.nn.functional, torch.optim.SGD
    opt = optimizer(model.parameters(), lr=0.01, momentum=0.9)
    data = [(make(x), make(y)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            loss = functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    return train_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="training steps per timed run")
    ap.add_argument("--repeat", type=int, default=9, help="timed runs of each library (the median is shown)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for numpy's BLAS and torch (default: numpy's own count)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of minigrad's steps")
    args = ap.parse_args()
    threads = set_threads(args.threads)
    torch = import_torch()

    batches = random_batches()
    ours = trainer("minigrad", batches)
    theirs = trainer("torch", batches, torch) if torch is not None else None
    ours(args.steps)  # warm-up
    if theirs:
        theirs(args.steps)
    ours_ms, theirs_ms = [], []
    for _ in range(args.repeat):  # alternating: a change in the machine's load hits both alike
        ours_ms.append(median_time(lambda: ours(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
        if theirs:
            theirs_ms.append(median_time(lambda: theirs(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
    table = Comparison(f"LeNet-5 (ReLU, max pooling), batch {BATCH}, SGD momentum, {threads} thread(s)",
                       unit="ms per step")
    mine_ms = statistics.median(ours_ms)
    ref_ms = statistics.median(theirs_ms) if theirs else None
    table.rows.append({"case": "train step (fwd + loss + bwd + SGD)", "minigrad": mine_ms, "torch": ref_ms,
                       "ratio": mine_ms / ref_ms if ref_ms else None})
    table.print()
    print(f"\nminigrad: {1e3 / mine_ms:.1f} steps/s", end="")
    if theirs:
        speed = statistics.median(t / m for m, t in zip(ours_ms, theirs_ms))
        print(f"   torch: {1e3 / ref_ms:.1f} steps/s   minigrad speed = {speed:.2f}x PyTorch "
              f"(median of {args.repeat} paired runs; goal >= 0.5x)")
    else:
        print("\n(torch is not installed: pip install 'torch==2.13.0' for the comparison)")
    if args.profile:
        profile(ours, args.steps * 5)


if __name__ == "__main__":
    main()
