"""Per-op overhead: chains of 100 small ops on 32x32 tensors, forward + backward, in microseconds per op.

The arithmetic is tiny, so this measures what each framework adds around an op: creating the
result tensor, recording the graph node, dispatching to the array library, and walking the graph
backwards. The chains are written once and run on both libraries (the same operators):

| chain | ops |
|---|---|
| elementwise | `tanh((h * c + b) - x)`, repeated |
| matmul + tanh | `tanh(h @ w)`, repeated |
| mlp | `relu(h @ w + b) * c`, repeated |
| forward only | the mlp chain without backward (graph recording on) |
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import Case, import_torch

import minigrad as mg

N_OPS, SIZE = 100, 32
CHAINS_PER_RUN = 10  # a timed run of about 20 ms: long enough for the clock, short enough to pair often


def chains(x, w, b, c, n_ops=N_OPS):
    """Three chains of n_ops ops each, on minigrad's or torch's tensors alike."""

    def elementwise():
        h = x
        for _ in range(n_ops // 4):
            h = ((h * c + b) - x).tanh()  # 4 ops
        return h

    def matmul_tanh():
        h = x
        for _ in range(n_ops // 2):
            h = (h @ w).tanh()  # 2 ops
        return h

    def mlp():
        h = x
        for _ in range(n_ops // 4):
            h = (h @ w + b).relu() * c  # 4 ops: matmul, add a broadcast bias, relu, mul
        return h

    return {"elementwise (mul add sub tanh)": elementwise, "matmul + tanh": matmul_tanh,
            "mlp (matmul, +bias, relu, *c)": mlp}


def _tensors(opts):
    """The same leaves for both libraries, on the run's device."""
    torch = import_torch()
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(shape).astype(np.float32) * 0.3
              for k, shape in [("x", (SIZE, SIZE)), ("w", (SIZE, SIZE)), ("b", (SIZE,)), ("c", (SIZE, SIZE))]}
    ours = {k: mg.tensor(v, device=opts.device, requires_grad=True) for k, v in arrays.items()}
    theirs = {k: torch.tensor(v, device=opts.device, requires_grad=True) for k, v in arrays.items()}
    return ours, theirs


def _forward_backward(chain, leaves):
    def run():
        for _ in range(CHAINS_PER_RUN):
            for p in leaves.values():
                p.grad = None
            chain().sum().backward()
    return run


def _forward(chain):
    def run():
        for _ in range(CHAINS_PER_RUN):
            chain()
    return run


def cases(opts):
    def make(name, backward=True):
        def build():
            ours, theirs = _tensors(opts)
            mine, ref = chains(**ours)[name], chains(**theirs)[name]
            if not backward:
                return _forward(mine), _forward(ref)
            return _forward_backward(mine, ours), _forward_backward(ref, theirs)
        return build

    timing = dict(work=N_OPS * CHAINS_PER_RUN, unit="us/op", repeat=15, warmup=3, steps=N_OPS * CHAINS_PER_RUN,
                  per="op")
    rows = [Case(f"{name}, fwd + bwd", make(name), **timing) for name in chains(None, None, None, None)]
    mlp = "mlp (matmul, +bias, relu, *c)"
    rows.append(Case(f"{mlp}, forward only", make(mlp, backward=False), **timing))
    return rows


if __name__ == "__main__":
    import run

    sys.exit(run.main([Path(__file__).stem, *sys.argv[1:]]))
