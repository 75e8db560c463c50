"""Reductions over dims: sum, mean, max/min, logsumexp (var and std are built from these).

The backward of a reduction copies the output gradient back along the reduced dims
(`expand`), the reverse of summing over them.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import errstate, xp_of
from ._util import const, normalize_dims


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
    splits the gradient evenly between the tied elements; `max(dim=...)` gives it all to the
    element whose index it returns (the first), as PyTorch does.
    """

    pick = "max"

    def forward(ctx, x, dim=None, keepdim=False, split_ties=True):
        xp = xp_of(x)
        ctx.in_shape = x.shape
        ctx.dims = dims = normalize_dims(dim, x.ndim, ctx.pick)
        if x.size == 0:
            raise RuntimeError(f"{ctx.pick}: cannot reduce an empty tensor of shape {x.shape}")
        y = (x.max if ctx.pick == "max" else x.min)(axis=dims, keepdims=True)
        if split_ties or len(dims) != 1:
            hit = x == y
            weight = hit / hit.sum(axis=dims, keepdims=True)
        else:
            arg = (x.argmax if ctx.pick == "max" else x.argmin)(axis=dims[0], keepdims=True)
            weight = xp.zeros(x.shape, dtype=x.dtype)
            xp.put_along_axis(weight, arg, 1, axis=dims[0])
        ctx.weight = weight.astype(x.dtype, copy=False)
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    def backward(ctx, gy):
        return _expand_back(gy, ctx.in_shape, ctx.dims) * const(ctx.weight)


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
        m = x.max(axis=dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows: log(0) = -inf, not NaN
        with errstate(xp, divide="ignore"):  # a fully masked row is meant to give -inf, as in PyTorch
            y = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        ctx.save_inputs()
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    def backward(ctx, gy):
        x = ctx.inputs[0]
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
