"""Per-op overhead: a chain of small ops, forward + backward, minigrad against PyTorch.

On 32x32 tensors the arithmetic is tiny, so this measures what the framework adds around
each op: building a graph node, dispatching to numpy, and walking the graph backwards.
Run:  python benchmarks/op_overhead.py [--ops 100] [--size 32] [--repeat 15] [--threads 1]
"""
from __future__ import annotations

import argparse

import numpy as np
from common import Comparison, import_torch, set_threads

import minigrad as mg


def chains(lib, x, w, b, c, n_ops):
    """Three chains of n_ops ops each, written once for both libraries (same operators)."""

    def elementwise():
        h = x
        for i in range(n_ops // 4):
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
            h = ((h @ w + b).relu() * c)  # 4 ops: matmul, add a broadcast bias, relu, mul
        return h

    return {"elementwise (mul add sub tanh)": elementwise, "matmul + tanh": matmul_tanh,
            "mlp (matmul, +bias, relu, *c)": mlp}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100, help="ops per chain (a multiple of 4)")
    ap.add_argument("--size", type=int, default=32, help="tensors are size x size")
    ap.add_argument("--repeat", type=int, default=15, help="timed runs per case (the median is shown)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for numpy's BLAS and torch (default: numpy's own count)")
    args = ap.parse_args()
    n, s = args.ops, args.size
    set_threads(args.threads)
    torch = import_torch()

    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(shape).astype(np.float32) * 0.3
              for k, shape in [("x", (s, s)), ("w", (s, s)), ("b", (s,)), ("c", (s, s))]}
    mine = {k: mg.tensor(v, requires_grad=True) for k, v in arrays.items()}
    mine_chains = chains(mg, **mine, n_ops=n)
    if torch is not None:
        ref = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
        ref_chains = chains(torch, **ref, n_ops=n)

    def fwd_bwd(chain, params):
        def run():
            for p in params.values():
                p.grad = None
            chain().sum().backward()
        return run

    table = Comparison(f"op overhead: chains of {n} ops on {s}x{s} float32, forward + backward", unit="us per op")
    for name, chain in mine_chains.items():
        table.add(name, fwd_bwd(chain, mine), fwd_bwd(ref_chains[name], ref) if torch else None,
                  scale=1e6 / n, repeat=args.repeat)

    # forward alone, graph recording on: the cost of Function.apply and Tensor creation
    name = "mlp (matmul, +bias, relu, *c)"
    table.add("forward only: " + name, mine_chains[name], ref_chains[name] if torch else None,
              scale=1e6 / n, repeat=args.repeat)
    table.print()
    if torch is None:
        print("(torch is not installed: pip install 'torch==2.13.0' for the comparison)")


if __name__ == "__main__":
    main()
