"""Reductions over dims: sum, mean, max/min, logsumexp, var and std.

The backward of a reduction copies the output gradient back along the reduced dims
(`expand`), the reverse of summing over them.
"""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import errstate, xp_of
from ._util import const, normalize_dims
from .elementwise import Where


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g, in_shape, dims):
    """Broadcast a reduced gradient back to the input's shape."""
    return g.reshape(_keepdim_shape(in_shape, dims)).expand(in_shape)


class Sum(Function):
    """y = sum_i x_i    dy/dx_i = 1"""

    def forward(ctx, x, dim=None, keepdim=False):
        ctx.in_shape = x.shape
        ctx.dims = normalize_dims(dim, x.ndim, "sum")
        return x.sum(axis=ctx.dims, keepdims=keepdim)

    def backward(ctx, gy):
        return _expand_back(gy, ctx.in_shape, ctx.dims)


class Mean(Function):
    """y = (1/n) sum_i x_i    dy/dx_i = 1/n"""

    def forward(ctx, x, dim=None, keepdim=False):
        ctx.in_shape = x.shape
        ctx.dims = normalize_dims(dim, x.ndim, "mean")
        n = 1
        for d in ctx.dims:
            n *= x.shape[d]
        ctx.n = n
        return x.mean(axis=ctx.dims, keepdims=keepdim)

    def backward(ctx, gy):
        return _expand_back(gy / ctx.n, ctx.in_shape, ctx.dims)


class _Extreme(Function):
    """y = max (or min) of x over dims.

    dy/dx: 1 at the extreme element, 0 elsewhere. Ties: reducing over all dims (or amax/amin)
    splits the gradient evenly between the tied elements, found again in backward from x and y
    (which PyTorch saves too); `max(dim=...)` gives it all to the element whose index it returns
    (the first), as PyTorch does, and keeps only that.
    """

    pick = "max"

    def forward(ctx, x, dim=None, keepdim=False, split_ties=True):
        xp = xp_of(x)
        ctx.in_shape = x.shape
        ctx.dims = dims = normalize_dims(dim, x.ndim, ctx.pick)
        if any(x.shape[d] == 0 for d in dims) or (x.size == 0 and not dims):
            raise RuntimeError(f"{ctx.pick}: cannot reduce over an empty dim (tensor of shape {x.shape}): it has no {ctx.pick}")
        y = (x.max if ctx.pick == "max" else x.min)(axis=dims, keepdims=True)
        if split_ties:
            ctx.weight = None
            ctx.save_for_backward(x)
            ctx.save_output()
        elif not dims:  # max(dim) of a 0-d tensor: the one value
            ctx.weight = xp.ones((), dtype=x.dtype)
        else:
            arg = (x.argmax if ctx.pick == "max" else x.argmin)(axis=dims[0], keepdims=True)
            weight = xp.zeros(x.shape, dtype=x.dtype)
            xp.put_along_axis(weight, arg, 1, axis=dims[0])
            ctx.weight = weight
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    def backward(ctx, gy):
        weight = ctx.weight
        if weight is None:
            x = ctx.saved_tensors[0].data
            hit = x == ctx.output.data.reshape(_keepdim_shape(ctx.in_shape, ctx.dims))
            weight = (hit / hit.sum(axis=ctx.dims, keepdims=True)).astype(x.dtype, copy=False)
        return _expand_back(gy, ctx.in_shape, ctx.dims) * const(weight)


class Max(_Extreme):
    pick = "max"


class Min(_Extreme):
    pick = "min"


class LogSumExp(Function):
    """y = log sum_i exp(x_i)    dy/dx_i = exp(x_i - y) = softmax(x)_i

    Computed as m + log sum exp(x - m) with m = max x, so logits of size 1e4 stay finite.
    The backward asks the (max-shifted) softmax for exp(x - y) rather than subtracting a
    stored y: in float32, y = 1e4 carries an absolute rounding error of 1e-3, which
    exp(x - y) would turn into a relative error of 1e-3 in the gradient.
    """

    def forward(ctx, x, dim=None, keepdim=False):
        xp = xp_of(x)
        ctx.in_shape = x.shape
        ctx.dims = dims = normalize_dims(dim, x.ndim, "logsumexp")
        if x.size == 0:  # the log of an empty sum: -inf, as in PyTorch
            y = xp.full(_keepdim_shape(x.shape, dims), -xp.inf, dtype=x.dtype)
        else:
            m = x.max(axis=dims, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows: log(0) = -inf, not NaN
            with errstate(xp, divide="ignore"):  # a fully masked row is meant to give -inf, as in PyTorch
                y = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        ctx.save_for_backward(x)
        ctx.save_output()
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        ctx.output  # not read, but saved as PyTorch saves it: a y changed in place since is refused there too
        if not ctx.dims:  # a 0-d tensor: logsumexp(x) = x
            return gy
        return _expand_back(gy, ctx.in_shape, ctx.dims) * _softmax_over(x, ctx.dims)


def _softmax_over(x, dims):
    """softmax of x over several dims at once (moved to the end and flattened into one)."""
    if len(dims) == 1:
        return x.softmax(dims[0])
    rest = [d for d in range(x.ndim) if d not in dims]
    moved = x.permute(*rest, *dims)
    p = moved.reshape(moved.shape[: len(rest)] + (-1,)).softmax(-1).reshape(moved.shape)
    inverse = [0] * x.ndim
    for i, d in enumerate(rest + list(dims)):
        inverse[d] = i
    return p.permute(*inverse)


class Var(Function):
    """y = sum_i (x_i - mean)^2 / (n - c)    dy/dx_i = 2 (x_i - mean) / (n - c)

    c is the correction: 1 (Bessel's, the default) or 0. With n <= c there is no estimate: NaN,
    as in PyTorch.
    """

    def forward(ctx, x, dim=None, keepdim=False, correction=1):
        ctx.in_shape = x.shape
        ctx.dims = dims = normalize_dims(dim, x.ndim, "var")
        ctx.denom = max(math.prod(x.shape[d] for d in dims) - correction, 0)
        ctx.save_for_backward(x)
        centered = x - x.mean(axis=dims, keepdims=True)
        with errstate(xp_of(x), divide="ignore", invalid="ignore"):  # n <= c: NaN, without numpy's note
            return (centered * centered).sum(axis=dims, keepdims=keepdim) / ctx.denom

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        centered = x - x.mean(dim=ctx.dims, keepdim=True)
        return _expand_back(gy, ctx.in_shape, ctx.dims) * centered * _twice_inverse(ctx.denom)


class Std(Function):
    """y = sqrt(var(x))    dy/dx_i = (x_i - mean) / ((n - c) y),  and 0 where y = 0, as in PyTorch
    (a spread of equal values has no slope to follow)."""

    def forward(ctx, x, dim=None, keepdim=False, correction=1):
        ctx.in_shape = x.shape
        ctx.dims = dims = normalize_dims(dim, x.ndim, "std")
        ctx.denom = max(math.prod(x.shape[d] for d in dims) - correction, 0)
        ctx.save_for_backward(x)
        ctx.save_output()
        centered = x - x.mean(axis=dims, keepdims=True)
        with errstate(xp_of(x), divide="ignore", invalid="ignore"):
            return xp_of(x).sqrt((centered * centered).sum(axis=dims, keepdims=keepdim) / ctx.denom)

    def backward(ctx, gy):
        (x,), y = ctx.saved_tensors, ctx.output
        zero = const(y.data == 0)
        g_var = Where.apply(zero, 0.0, gy / (2 * y + zero))  # + zero: no division by 0 where it is unused
        centered = x - x.mean(dim=ctx.dims, keepdim=True)
        return _expand_back(g_var, ctx.in_shape, ctx.dims) * centered * _twice_inverse(ctx.denom)


def _twice_inverse(denom):
    """2 / denom; infinite for no degrees of freedom, which makes the gradient NaN, as the value."""
    return 2.0 / denom if denom else math.inf
