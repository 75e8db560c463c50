"""Training speed of a character LSTM (embed 64, hidden 256, seq 64, batch 32): minigrad against torch.nn.LSTM.

One step is what a training loop does: embedding -> LSTM -> linear head, cross-entropy over all
64 x 32 positions, zero_grad, backward, Adam. Both libraries train the same architecture on the
same random ids in the same process, with the same thread count, in alternating timed runs;
each figure is a median. The figure to quote is tokens/s, minigrad / PyTorch (goal >= 0.5x).
Run:  python benchmarks/lstm_train.py [--steps 5] [--repeat 7] [--threads 1] [--device cpu|cuda] [--profile]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import Comparison, import_torch, median_time, profile, set_threads

import minigrad as mg
from minigrad import nn, optim

VOCAB, EMBED, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32  # 65: tiny Shakespeare's characters


def random_batches(n=8, seed=0):
    """A few fixed batches of random character ids (x, y), cycled through (no data loading timed)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(0, VOCAB, size=(BATCH, SEQ + 1))
        out.append((ids[:, :-1], ids[:, 1:]))
    return out


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, idx):
        h, _ = self.lstm(self.embed(idx))
        return self.head(h.reshape(-1, HIDDEN))


def minigrad_trainer(batches, device="cpu"):
    mg.manual_seed(0)
    model = CharLSTM().to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    data = [(mg.tensor(x, device=device), mg.tensor(y.reshape(-1), device=device)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    return train_steps


def torch_trainer(torch, batches, device="cpu"):
    torch.manual_seed(0)

    class TorchCharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.lstm = torch.nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, idx):
            h, _ = self.lstm(self.embed(idx))
            return self.head(h.reshape(-1, HIDDEN))

    model = TorchCharLSTM().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.from_numpy(x).to(device), torch.from_numpy(y.reshape(-1)).to(device)) for x, y in batches]

    def train_steps(n):
        for i in range(n):
            x, y = data[i % len(data)]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()  # .item() waits for the GPU, so the timing is honest there too

    return train_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="training steps per timed run")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs (the median is shown)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for numpy's BLAS and torch (default: numpy's own count)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (minigrad on cupy, torch on CUDA)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of minigrad's steps")
    args = ap.parse_args()
    threads = set_threads(args.threads)
    torch = import_torch()

    batches = random_batches()
    ours = minigrad_trainer(batches, args.device)
    theirs = torch_trainer(torch, batches, args.device) if torch is not None else None
    ours(2)  # warm-up: first-call costs (allocations, BLAS threads) are not timed
    if theirs:
        theirs(2)
    # The runs alternate (minigrad, torch, minigrad, ...) so that a change in the machine's load
    # hits both alike; the ratio quoted is the median of the per-pair ratios.
    ours_ms, theirs_ms = [], []
    for _ in range(args.repeat):
        ours_ms.append(median_time(lambda: ours(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
        if theirs:
            theirs_ms.append(median_time(lambda: theirs(args.steps), repeat=1, warmup=0) * 1e3 / args.steps)
    title = (f"char LSTM (vocab {VOCAB}, embed {EMBED}, hidden {HIDDEN}, seq {SEQ}, batch {BATCH}), Adam, "
             f"{args.device}, {threads} thread(s)")
    table = Comparison(title, unit="ms per step")
    mine_ms = statistics.median(ours_ms)
    ref_ms = statistics.median(theirs_ms) if theirs else None
    table.rows.append({"case": "train step (fwd + loss + bwd + Adam)", "minigrad": mine_ms, "torch": ref_ms,
                       "ratio": mine_ms / ref_ms if ref_ms else None,
                       "ratio_min": min(ours_ms) / min(theirs_ms) if theirs else None})
    table.print()
    tokens = SEQ * BATCH
    print(f"\nminigrad: {tokens * 1e3 / mine_ms:,.0f} tokens/s", end="")
    if theirs:
        speed = statistics.median(t / m for m, t in zip(ours_ms, theirs_ms))
        print(f"   torch: {tokens * 1e3 / ref_ms:,.0f} tokens/s   minigrad speed = {speed:.2f}x PyTorch "
              f"(median of {args.repeat} paired runs; {min(theirs_ms) / min(ours_ms):.2f}x between the fastest runs; "
              "goal >= 0.5x)")
    else:
        print("\n(torch is not installed: pip install 'torch==2.13.0' for the comparison)")
    if args.profile:
        profile(ours, args.steps * 3)


if __name__ == "__main__":
    main()
