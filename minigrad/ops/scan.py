"""Running sums along a dim."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of
from ._util import normalize_dim


class Cumsum(Function):
    """y_i = sum_{j <= i} x_j (along dim)    dL/dx_j = sum_{i >= j} dL/dy_i: a cumsum from the end"""

    def forward(ctx, x, dim):
        ctx.dim = dim = normalize_dim(dim, x.ndim, "cumsum")
        if x.ndim == 0:
            return x.copy()
        return xp_of(x).cumsum(x, axis=dim)

    def backward(ctx, gy):
        if gy.ndim == 0:
            return gy
        return gy.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim)
