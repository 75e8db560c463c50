"""Where values go when sorted: sort and topk find their order without a gradient (an index is
a lookup key, not a value) and then read the values with a gather, which carries the gradient
back to the elements that were picked."""
from __future__ import annotations

from ..backend import xp_of
from ._util import normalize_dim


def _key(a, descending):
    """What to sort ascending: the values, or their negation for a descending order."""
    if not descending:
        return a
    if a.dtype.kind in "ub":  # negating an unsigned or bool array would wrap around
        a = a.astype("int64")
    return -a


def sort_indices(a, dim=-1, descending=False):
    """The order of a along dim (stable: equal values keep their order, as torch's stable=True)."""
    dim = normalize_dim(dim, a.ndim, "sort")
    if a.ndim == 0:
        return xp_of(a).zeros((), dtype="int64")
    return xp_of(a).argsort(_key(a, descending), axis=dim, kind="stable")


def topk_indices(a, k, dim=-1, largest=True):
    """The positions of the k largest (or smallest) values along dim, in order."""
    dim = normalize_dim(dim, a.ndim, "topk")
    n = a.shape[dim] if a.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for a dim of size {n} (shape {a.shape}, dim {dim})")
    order = sort_indices(a, dim, descending=largest)
    if a.ndim == 0:
        return order
    return order[(slice(None),) * dim + (slice(0, k),)]
