"""Elementwise ops that ported PyTorch code reaches for: log1p and leaky_relu."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of
from ._util import const


class Log1p(Function):
    """y = log(1 + x)    dy/dx = 1 / (1 + x)   (exact near 0, where log(1 + x) loses digits)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log1p(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / (x + 1)


class LeakyRelu(Function):
    """y = x where x > 0, else slope * x    dy/dx = 1 where x > 0, else slope (at 0: slope, as PyTorch)"""

    def forward(ctx, x, negative_slope=0.01):
        xp = xp_of(x)
        ctx.scale = xp.where(x > 0, 1.0, negative_slope).astype(x.dtype, copy=False)
        return x * ctx.scale

    def backward(ctx, gy):
        return gy * const(ctx.scale)
