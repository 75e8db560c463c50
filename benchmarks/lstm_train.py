"""Training a character LSTM (embed 64, hidden 256, seq 64, batch 32, Adam), in tokens per second.

One step: embedding -> LSTM -> linear head, cross-entropy over all 64 x 32 positions, zero_grad,
backward, Adam. Both libraries train the same model (the same weights: torch.nn.LSTM's layout)
on the same random ids; on a GPU, torch runs cuDNN's fused LSTM and minigrad a per-step loop.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg
from minigrad import nn, optim

VOCAB, EMBED, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32  # 65: tiny Shakespeare's characters
STEPS = 3  # per timed run


def random_batches(n=8, seed=0):
    """A few fixed batches of random character ids (x, y), cycled through (no data loading timed)."""
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, VOCAB, size=(BATCH, SEQ + 1)) for _ in range(n)]
    return [(i[:, :-1], i[:, 1:].reshape(-1)) for i in ids]


def char_lstm(nn):
    """The model, written once for both libraries (`nn` is minigrad.nn or torch.nn)."""

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, idx):
            h, _ = self.lstm(self.embed(idx))
            return self.head(h.reshape(-1, HIDDEN))

    return CharLSTM()


def trainer(nn, model, optimizer, data):
    def train_steps():
        for i in range(STEPS):
            x, y = data[i % len(data)]
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return train_steps


def cases(opts):
    def make():
        torch = import_torch()
        batches = random_batches()
        mg.manual_seed(0)
        model = char_lstm(nn).to(opts.device)
        data = [(mg.tensor(x, device=opts.device), mg.tensor(y, device=opts.device)) for x, y in batches]
        ours = trainer(nn, model, optim.Adam(model.parameters(), lr=1e-3), data)
        ref = char_lstm(torch.nn)
        ref.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v.numpy()))
                             for k, v in model.state_dict().items()})
        ref.to(opts.device)
        data = [(torch.from_numpy(x).to(opts.device), torch.from_numpy(y).to(opts.device)) for x, y in batches]
        return ours, trainer(torch.nn, ref, torch.optim.Adam(ref.parameters(), lr=1e-3), data)

    return [Case(f"char LSTM (embed {EMBED}, hidden {HIDDEN}, seq {SEQ}, batch {BATCH}), Adam: train step",
                 make, work=STEPS * SEQ * BATCH, unit="tokens/s", repeat=7, steps=STEPS)]


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
