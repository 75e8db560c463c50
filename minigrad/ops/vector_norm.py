"""Vector norms: ||x||_p over some dims (all by default), as torch.linalg.vector_norm."""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import xp_of
from ._util import const, normalize_dims
from .elementwise import Where
from .reduce import _expand_back


class VectorNorm(Function):
    """y = (sum_i |x_i|^p)^(1/p);  p = inf: max |x_i|,  -inf: min |x_i|,  0: the count of nonzeros.

    dy/dx_i = sign(x_i) |x_i|^(p-1) / y^(p-1)     (p = 2: x_i / y;  p = 1: sign(x_i))
    p = +-inf: sign(x_i) at the elements that reach the max (min), shared evenly between ties;
    p = 0: 0. Where y = 0 the gradient is 0 (a subgradient), as in PyTorch.
    """

    def forward(ctx, x, p=2.0, dim=None, keepdim=False):
        xp = xp_of(x)
        dims = normalize_dims(dim, x.ndim, "norm")
        ctx.p, ctx.dims, ctx.keepdim, ctx.in_shape = p, dims, keepdim, x.shape
        ctx.save_for_backward(x)
        ctx.save_output()
        a = xp.abs(x)
        if p == math.inf:
            y = a.max(axis=dims, keepdims=keepdim)
        elif p == -math.inf:
            y = a.min(axis=dims, keepdims=keepdim)
        elif p == 0:
            y = (x != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
        elif p == 1:
            y = a.sum(axis=dims, keepdims=keepdim)
        else:  # scaled by the largest |x|, so that x^p neither underflows nor overflows (as BLAS's nrm2)
            m = a.max(axis=dims, keepdims=True) if a.size else xp.ones((1,) * a.ndim, dtype=a.dtype)
            m = xp.where(m > 0, m, 1)
            r = a / m
            s = (r * r if p == 2 else r ** p).sum(axis=dims, keepdims=True)
            y = (xp.sqrt(s) if p == 2 else s ** (1.0 / p)) * m
            if not keepdim:
                y = y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
        return y

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        p, dims = ctx.p, ctx.dims
        xd = x.data
        xp = xp_of(xd)

        def back(t):  # a reduced tensor broadcast back to x's shape
            return _expand_back(t, ctx.in_shape, dims)

        g = back(gy)
        y = back(ctx.output)
        sign = const(xp.sign(xd))
        if p == 0:
            return g * 0.0
        if p == 1:
            return g * sign
        if p in (math.inf, -math.inf):
            hit = xp.abs(xd) == y.data
            share = hit / hit.sum(axis=dims, keepdims=True)
            return g * sign * const(share.astype(xd.dtype, copy=False))
        y_zero = const(y.data == 0)
        if p == 2:
            return x * Where.apply(y_zero, 0.0, g / Where.apply(y_zero, 1.0, y))
        if p < 1:  # |x|^(p-1) is infinite at x = 0: those elements get 0 (and never see the inf)
            zero = const(xd == 0)
            powered = Where.apply(zero, 0.0, Where.apply(zero, 1.0, x.abs()) ** (p - 1))
        else:
            powered = x.abs() ** (p - 1)
        scale = Where.apply(y_zero, 0.0, g / Where.apply(y_zero, 1.0, y) ** (p - 1))
        return sign * powered * scale
