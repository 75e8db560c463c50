"""Training an MLP 784-256-10 (batch 128, AdamW, cross-entropy), in steps per second.

One step is what a training loop does: forward, loss, zero_grad, backward, optimizer step. Both
libraries train the same architecture from the same weights on the same random batches.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg
from minigrad import nn, optim

IN, HIDDEN, OUT, BATCH = 784, 256, 10, 128
STEPS = 20  # per timed run


def random_batches(n=8, seed=0):
    """A few fixed batches of random "images" and labels, cycled through (no data loading timed)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, IN), dtype=np.float32), rng.integers(0, OUT, size=BATCH))
            for _ in range(n)]


def minigrad_trainer(batches, device):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT)).to(device)
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    data = [(mg.tensor(x, device=device), mg.tensor(y, device=device)) for x, y in batches]

    def train_steps():
        for i in range(STEPS):
            x, y = data[i % len(data)]
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return model, train_steps


def torch_trainer(batches, weights, device):
    torch = import_torch()
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)) for x, y in batches]

    def train_steps():
        for i in range(STEPS):
            x, y = data[i % len(data)]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return train_steps


def cases(opts):
    def make():
        batches = random_batches()
        model, ours = minigrad_trainer(batches, opts.device)
        weights = {k: v.numpy() for k, v in model.state_dict().items()}
        return ours, torch_trainer(batches, weights, opts.device)

    return [Case(f"MLP {IN}-{HIDDEN}-{OUT}, batch {BATCH}, AdamW: train step", make, work=STEPS, unit="steps/s",
                 repeat=9, steps=STEPS)]


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
