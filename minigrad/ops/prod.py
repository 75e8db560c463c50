"""The product of the elements along a dim (or of all of them)."""
from __future__ import annotations

from ..backend import xp_of
from ._util import normalize_dim
from .fused import Fused


class Prod(Fused):
    """y = prod_i x_i    dy/dx_i = prod_{j != i} x_j = (prod_{j < i} x_j) * (prod_{j > i} x_j)

    The products of the others come from two running products, one from each end, so a zero
    needs no case of its own: y / x_i would divide by it, and looking for zeros first would make
    the host wait for the device at every backward. The composite multiplies the first half of
    the values by the second half until one is left (log2(n) products of differentiable ops), so
    second and higher derivatives are exact, with zeros too.
    """

    def forward(ctx, x, dim=None, keepdim=False):
        ctx.dim = None if dim is None or x.ndim == 0 else normalize_dim(dim, x.ndim, "prod")
        ctx.keepdim = keepdim
        ctx.kwargs = dict(dim=dim, keepdim=keepdim)
        ctx.save_for_backward(x)
        return x.prod(axis=ctx.dim, keepdims=keepdim)

    def fast_backward(ctx, gy):
        x = ctx.saved_tensors[0].data
        if ctx.dim is None:  # all elements: as along the one dim of the flattened tensor
            others = _others(x.reshape(-1), 0).reshape(x.shape)
            return gy.reshape((1,) * x.ndim) * others, None, None
        g = gy if ctx.keepdim else xp_of(gy).expand_dims(gy, ctx.dim)
        return g * _others(x, ctx.dim), None, None

    @staticmethod
    def composite(x, dim=None, keepdim=False):
        shape = x.shape
        if dim is None or x.ndim == 0:  # all elements: along the one dim of the flattened tensor
            x, dim = x.reshape(-1), 0
            out_shape = (1,) * len(shape) if keepdim else ()
        else:
            dim = normalize_dim(dim, x.ndim, "prod")
            out_shape = tuple(1 if d == dim else n for d, n in enumerate(shape) if keepdim or d != dim)
        if x.shape[dim] == 0:  # the empty product
            return (x.sum(dim, keepdim=True) + 1.0).reshape(out_shape)
        before = (slice(None),) * dim
        while x.shape[dim] > 1:
            n = x.shape[dim]
            if n % 2:  # an odd count: a 1 joins the second half
                x = x.pad((0, 0) * (x.ndim - 1 - dim) + (0, 1), value=1.0)
            half = (n + 1) // 2
            x = x[before + (slice(0, half),)] * x[before + (slice(half, None),)]
        return x.reshape(out_shape)


def _others(x, dim):
    """o_i = prod_{j != i} x_j along dim (an array): the running product from the left up to
    i - 1 times the running product from the right down to i + 1, each starting from 1."""
    xp = xp_of(x)
    if x.shape[dim] == 0:
        return xp.ones_like(x)
    ahead = (slice(None),) * dim

    def exclusive_cumprod(a):  # [1, a0, a0 a1, ...]: the product of everything before each position
        padding = [(1, 0) if d == dim else (0, 0) for d in range(a.ndim)]
        return xp.pad(xp.cumprod(a[ahead + (slice(0, -1),)], axis=dim), padding, constant_values=1)

    reverse = ahead + (slice(None, None, -1),)
    return exclusive_cumprod(x) * exclusive_cumprod(x[reverse])[reverse]
