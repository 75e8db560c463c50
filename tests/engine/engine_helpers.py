"""Strategies and small helpers shared by the engine tests.

Values come in three kinds, so that finite differences are a fair judge:
- smooth: any float in a range (for smooth functions);
- grid:   multiples of 0.1 shifted by 0.05, so never 0 and never on a clamp bound that is a
          multiple of 0.1 (for relu, abs, clamp: a kink within eps of a sample would make
          the central difference a half-way value);
- distinct: grid values without repeats (for max/min reductions, where a tie between k
          elements gives a central difference of 1/2, not the 1/k the op documents).
Shapes stay small (<= 4 per dim, <= 3 dims) to keep the suite fast.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

MAX_SIDE = 4
MAX_DIMS = 3


def shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(n=2, min_dims=0, max_dims=MAX_DIMS, max_side=MAX_SIDE):
    """n shapes that broadcast together (size-1 dims and missing leading dims included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda b: b.input_shapes)


def _elements(kind, lo, hi):
    if kind == "smooth":
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    # grid: k/10 + 0.05 for integers k with the value inside [lo, hi]
    return st.integers(int(np.ceil(lo * 10 - 0.5)), int(np.floor(hi * 10 - 0.5))).map(lambda k: k / 10 + 0.05)


def arrays(shape, kind="smooth", lo=-2.0, hi=2.0, dtype=np.float64):
    """Arrays of a given shape; kind is 'smooth', 'grid' or 'distinct' (see the module doc)."""
    return hnp.arrays(dtype, shape, elements=_elements(kind, lo, hi), unique=(kind == "distinct"))


def leaf(array, requires_grad=True):
    """A float64 leaf tensor holding a copy of the array (gradcheck perturbs it in place)."""
    return mg.tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad)


def numeric_grad(fn, array, eps=1e-6):
    """d sum(fn(x)) / dx by central differences, on plain float64 arrays."""
    x = np.array(array, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        plus = float(np.sum(fn(x)))
        x[idx] = orig - eps
        minus = float(np.sum(fn(x)))
        x[idx] = orig
        g[idx] = (plus - minus) / (2 * eps)
    return g
