"""The product of the elements along a dim (or of all of them)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of
from ._util import const, normalize_dim
from .elementwise import Where
from .reduce import _expand_back


class Prod(Function):
    """y = prod_i x_i    dy/dx_i = prod_{j != i} x_j

    Without zeros that is y / x_i. With a zero among the x it is not (y is 0 but the product of
    the others need not be), so the products of the others are formed directly: x copied n
    times with a 1 on the diagonal, multiplied along the copy (n^2 values, only on this path).
    Both forms are made of differentiable ops, so the second derivative is exact too.
    """

    def forward(ctx, x, dim=None, keepdim=False):
        ctx.in_shape = x.shape
        ctx.dim = None if dim is None else normalize_dim(dim, x.ndim, "prod")
        ctx.keepdim = keepdim
        ctx.save_inputs()
        ctx.save_output()
        return x.prod(axis=ctx.dim, keepdims=keepdim)

    def backward(ctx, gy):
        x = ctx.inputs[0]
        dim = ctx.dim
        if dim is None:  # all elements: as along dim 0 of the flattened tensor
            if x.ndim == 0:
                return gy
            g = gy.reshape((1,) * x.ndim).expand(ctx.in_shape)
            if _has_zero(x):
                return g * _others(x.reshape(-1), 0).reshape(ctx.in_shape)
            return g * (ctx.output / x)
        dims = (dim,)
        g = gy if ctx.keepdim else gy.unsqueeze(dim)
        g = _expand_back(g, ctx.in_shape, dims)
        if _has_zero(x):
            return g * _others(x, dim)
        y = ctx.output if ctx.keepdim else ctx.output.unsqueeze(dim)
        return g * (y / x)


def _has_zero(x) -> bool:
    # a host sync, once per backward: the cheap formula y / x is only right without zeros
    return bool((x.data == 0).any())


def _others(x, dim):
    """o_i = prod_{j != i} x_j along dim, built from differentiable ops."""
    xp = xp_of(x.data)
    n = x.shape[dim]
    moved = x.movedim(dim, -1)
    copies = moved.unsqueeze(-2).expand(moved.shape[:-1] + (n, n))  # [..., i, j] = x_j
    diagonal = const(xp.eye(n, dtype=bool))
    return Where.apply(diagonal, 1.0, copies).prod(-1).movedim(-1, dim)
