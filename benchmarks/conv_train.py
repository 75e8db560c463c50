"""Training a LeNet-5-sized CNN (batch 64, 28x28 inputs, SGD with momentum), in steps per second.

conv(1->6, 5x5, pad 2) relu maxpool(2) conv(6->16, 5x5) relu maxpool(2) flatten linear(400->120) relu
linear(120->84) relu linear(84->10), cross-entropy: LeCun et al.'s LeNet-5 with ReLU and max pooling.
Convolutions run as im2col (`as_strided`, one copy) and one matmul. One step is forward, loss,
zero_grad, backward, optimizer step; both libraries train the same weights on the same random data.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg
from minigrad import nn, optim

BATCH, CLASSES = 64, 10
STEPS = 10  # per timed run


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


def train_steps(model, opt, data, functional):
    def run():
        for i in range(STEPS):
            x, y = data[i % len(data)]
            loss = functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def cases(opts):
    def make():
        batches = random_batches()
        mg.manual_seed(0)
        model = lenet(nn).to(opts.device)
        data = [(mg.tensor(x, device=opts.device), mg.tensor(y, device=opts.device)) for x, y in batches]
        ours = train_steps(model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9), data, nn.functional)

        torch = import_torch()
        reference = lenet(torch.nn)
        reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v.numpy()))
                                   for k, v in model.state_dict().items()})
        reference.to(opts.device)
        data_t = [(torch.from_numpy(x).to(opts.device), torch.from_numpy(y).to(opts.device)) for x, y in batches]
        theirs = train_steps(reference, torch.optim.SGD(reference.parameters(), lr=0.01, momentum=0.9), data_t,
                             torch.nn.functional)
        return ours, theirs

    return [Case(f"LeNet-5 (ReLU, max pooling), batch {BATCH}, SGD momentum: train step", make, work=STEPS,
                 unit="steps/s", repeat=9, steps=STEPS)]


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
