"""AdamW steps over a GPT's parameters, per-parameter loop and one flat step (foreach), in steps per second.

The parameters are those of nanoGPT's CPU-recipe GPT (27 tensors, 0.8 million numbers; on a GPU
its GPU-recipe GPT, 10.7 million), in nanoGPT's two groups (weight decay 0.1 on the matrices, 0 on
the rest), each with a fixed random gradient. Both libraries run the same AdamW (lr 1e-3, betas
0.9/0.99) from the same values:

| row | minigrad | PyTorch |
|---|---|---|
| per-parameter loop | `foreach=False` | `foreach=False` |
| flat step | `foreach=True`: the group as one flat buffer (one fused kernel on a GPU) | `foreach=True` |
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg
from minigrad import optim
from minigrad_models.gpt import GPT, shakespeare_char_config

STEPS = 10  # per timed run
SIZES = {"cpu": dict(), "cuda": dict(n_layer=6, n_head=6, n_embd=384, block_size=256)}


def cases(opts):
    def make(foreach):
        def build():
            torch = import_torch()
            mg.manual_seed(0)
            model = GPT(shakespeare_char_config(**SIZES[opts.device])).to(opts.device)
            params = list(model.parameters())
            rng = np.random.default_rng(0)
            grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
            for p, g in zip(params, grads):
                p.grad = mg.tensor(g, device=opts.device)
            theirs = [torch.tensor(p.numpy(), device=opts.device, requires_grad=True) for p in params]
            for p, g in zip(theirs, grads):
                p.grad = torch.tensor(g, device=opts.device)

            def groups(ps):
                return [{"params": [p for p in ps if p.ndim >= 2], "weight_decay": 0.1},
                        {"params": [p for p in ps if p.ndim < 2], "weight_decay": 0.0}]

            ours = optim.AdamW(groups(params), lr=1e-3, betas=(0.9, 0.99), foreach=foreach)
            ref = torch.optim.AdamW(groups(theirs), lr=1e-3, betas=(0.9, 0.99), foreach=foreach)

            def run(opt):
                def steps():
                    for _ in range(STEPS):
                        opt.step()
                return steps

            return run(ours), run(ref)
        return build

    n = sum(int(np.prod(p.shape)) for p in GPT(shakespeare_char_config(**SIZES[opts.device])).parameters())
    return [Case(f"AdamW over a GPT's {n / 1e6:.1f}M parameters, {name}", make(foreach), work=STEPS, unit="steps/s",
                 repeat=9, steps=STEPS)
            for name, foreach in (("per-parameter loop (foreach=False)", False),
                                  ("one flat step (foreach=True)", True))]


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
