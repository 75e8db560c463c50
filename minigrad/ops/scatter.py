"""scatter: write values into a copy of a tensor at positions given by an index along a dim.

For dim = 0:  y = x.clone();  y[index[i][j]][j] = src[i][j]   (likewise for any dim)
`scatter_add` adds instead of writing; it is `x + ScatterAdd(src)` (ops/shape.py).
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of
from ._util import coords_along, normalize_dim, shape_of
from .shape import Gather, _check_index_range


def check_scatter(op, shape, dim, index, src_shape):
    """The dim, normalised; clear errors for an index that does not fit (PyTorch's rules)."""
    dim = normalize_dim(dim, len(shape), op)
    if index.ndim != len(shape):
        raise ValueError(f"{op}: index must have as many dims as the tensor ({len(shape)}), got index of shape {index.shape}")
    if any(index.shape[d] > shape[d] for d in range(len(shape)) if d != dim):
        raise ValueError(f"{op}: index of shape {index.shape} is larger than the tensor {tuple(shape)} outside dim {dim}")
    if src_shape is not None and (len(src_shape) != index.ndim or any(i > s for i, s in zip(index.shape, src_shape))):
        raise ValueError(f"{op}: index of shape {index.shape} is larger than src of shape {tuple(src_shape)}")
    _check_index_range(op, index, shape[dim], f"dim {dim} of the tensor")
    return dim


class Scatter(Function):
    """y = x with y[..index..] = src along dim (src: a tensor the index's shape, or a number)

    dy/dx = 1 except at the written positions (0 there);  dy/dsrc = the gradient read back at
    the index (a gather), as in PyTorch (which leaves repeated positions unspecified).
    """

    def forward(ctx, x, src, dim, index):
        xp = xp_of(x)
        ctx.dim, ctx.index, ctx.src_shape = dim, index, shape_of(src)
        out = x.copy()
        out[coords_along(xp, index, dim)] = src
        return out

    def backward(ctx, gy):
        _, need_src, _, _ = ctx.needs_input_grad
        gx = Scatter.apply(gy, 0.0, ctx.dim, ctx.index)
        gsrc = Gather.apply(gy, ctx.dim, ctx.index) if need_src else None
        return gx, gsrc, None, None
