"""Ops that move values around without computing new ones: reshape, permute, expand, cat,
pad, triangular masks, and indexing (getitem, gather, index_select).

Their derivatives move the gradient back the same way: the inverse permutation, a sum over
broadcast copies, the slices of a concatenation. Lookups by index send gradient only to the
entries they read, and an entry read twice gets both contributions (scatter-add).
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import check_index_range, scatter_add, xp_of
from ._util import const, coords_along, normalize_dim, unbroadcast
from .elementwise import Where


class Reshape(Function):
    """y = x viewed with another shape    dy/dx: the gradient reshaped back"""

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into "
                f"shape {tuple(shape)}; the number of elements must stay the same"
            ) from None

    def backward(ctx, gy):
        return gy.reshape(ctx.in_shape)


class Permute(Function):
    """y = x with its dims reordered    dy/dx: the gradient permuted back by the inverse order"""

    def forward(ctx, x, dims):
        if len(dims) != x.ndim or len(set(dims)) != x.ndim:
            raise ValueError(f"permute: {tuple(dims)} is not a permutation of the {x.ndim} dims of a tensor of shape {x.shape}")
        ctx.dims = dims
        return x.transpose(dims)

    def backward(ctx, gy):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return Permute.apply(gy, tuple(inverse))


class Expand(Function):
    """y = x broadcast to a larger shape    dy/dx: the gradient summed over the copies"""

    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        lead = len(shape) - x.ndim
        shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        try:
            y = xp_of(x).broadcast_to(x, shape)
        except ValueError:
            raise ValueError(
                f"expand: cannot expand a tensor of shape {x.shape} to {shape}; only dims of size 1 "
                "(or new leading dims) can grow"
            ) from None
        # numpy marks a broadcast read-only; a PyTorch view stays writable (y[1].add_(1) writes x),
        # and minigrad/views.py refuses the in-place ops that would write one element twice
        if getattr(y.flags, "writeable", True) is False and x.flags.writeable:
            y.flags.writeable = True
        return y

    def backward(ctx, gy):
        return unbroadcast(gy, ctx.in_shape)


class Cat(Function):
    """y = [x_1; x_2; ...] along dim    dy/dx_k: the k-th slice of the gradient"""

    def forward(ctx, *xs, dim=0):
        first = xs[0]
        for i, x in enumerate(xs):
            if x.ndim == 0:
                raise RuntimeError(
                    f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack, "
                    "or reshape it to (1,) first"
                )
        dim = normalize_dim(dim, first.ndim, "cat")
        for x in xs[1:]:
            if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dim):
                shapes = ", ".join(str(tuple(t.shape)) for t in xs)
                raise ValueError(
                    f"cat: tensors must have the same shape except in dim {dim}; got shapes {shapes}"
                )
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return xp_of(first).concatenate(xs, axis=dim)

    def backward(ctx, gy):
        grads, start = [], 0
        for size in ctx.sizes:
            index = (slice(None),) * ctx.dim + (slice(start, start + size),)
            grads.append(gy[index])
            start += size
        return tuple(grads)


class Pad(Function):
    """y = x with constant padding    dy/dx: the gradient with the padding cut off

    `pad` follows torch.nn.functional.pad: (left, right) for the last dim, then the one before...
    """

    def forward(ctx, x, pad, value=0.0):
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(f"pad: expected pairs for at most {x.ndim} dims, got pad={tuple(pad)}")
        if any(p < 0 for p in pad):
            raise ValueError(f"pad: negative padding {tuple(pad)} is not supported; slice the tensor instead")
        widths = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        ctx.index = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return xp_of(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(ctx, gy):
        return gy[ctx.index]


def _check_matrix(x, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dims (a matrix or a batch of them), got shape {x.shape}")


class Tril(Function):
    """y = lower triangle of x (last two dims), zeros above diagonal k    dy/dx: the same mask"""

    def forward(ctx, x, k=0):
        _check_matrix(x, "tril")
        ctx.k = k
        # contiguous as PyTorch's result is, so that a later reshape of it is a view in both
        return xp_of(x).ascontiguousarray(xp_of(x).tril(x, k))

    def backward(ctx, gy):
        return gy.tril(ctx.k)


class Triu(Function):
    """y = upper triangle of x (last two dims), zeros below diagonal k    dy/dx: the same mask"""

    def forward(ctx, x, k=0):
        _check_matrix(x, "triu")
        ctx.k = k
        return xp_of(x).ascontiguousarray(xp_of(x).triu(x, k))

    def backward(ctx, gy):
        return gy.triu(ctx.k)


# -- indexing ----------------------------------------------------------------------------
def _is_advanced(index) -> bool:
    if not isinstance(index, tuple):
        index = (index,)
    return any(hasattr(i, "dtype") or isinstance(i, list) for i in index)


class GetItem(Function):
    """y = x[index]    dy/dx: the gradient scattered back to the positions read (summed where
    an integer index array reads the same position twice)"""

    def forward(ctx, x, index):
        ctx.in_shape = x.shape
        ctx.index = index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (tensor of shape {x.shape})") from None

    def backward(ctx, gy):
        return IndexAccumulate.apply(gy, ctx.index, ctx.in_shape)


class IndexAccumulate(Function):
    """y = zeros(shape); y[index] += g    dy/dg = the values at index (a GetItem)"""

    def forward(ctx, g, index, shape):
        ctx.index = index
        out = xp_of(g).zeros(shape, dtype=g.dtype)
        if _is_advanced(index):
            scatter_add(out, index, g)
        else:  # basic indexing never repeats a position: plain assignment is exact
            out[index] = g
        return out

    def backward(ctx, gy):
        return GetItem.apply(gy, ctx.index), None, None


class SetItem(Function):
    """y = x with y[index] = v    dy/dx = 1 outside index, 0 inside; dy/dv: the gradient at index"""

    def forward(ctx, x, v, index):
        ctx.index = index
        ctx.v_shape = getattr(v, "shape", None)
        out = x.copy()
        out[index] = v
        return out

    def backward(ctx, gy):
        need_x, need_v, _ = ctx.needs_input_grad
        gx = SetItem.apply(gy, 0.0, ctx.index) if need_x else None
        gv = unbroadcast(GetItem.apply(gy, ctx.index), ctx.v_shape) if need_v else None
        return gx, gv, None


class CopySlices(Function):
    """y = base with base[view] = value: what an in-place op through a view does to the view's base.

    `view` is the chain of view ops that cuts the view out of the base, e.g.
    ((Reshape, ((2, 3),)), (GetItem, ((0, Ellipsis),))). The forward writes value into the base's
    own memory (the view's elements of it), which every view of the base shares; see views.py.
    dy/dbase = 1 outside the view's elements, 0 inside;  dy/dvalue = the gradient seen through the view
    """

    def forward(ctx, base, value, view):
        ctx.view = view
        replay(const(base), view).data[...] = value
        return base

    def backward(ctx, gy):
        need_base, need_value, _ = ctx.needs_input_grad
        gb = gv = None
        if need_base:
            inside = const(xp_of(gy.data).zeros(gy.shape, dtype=bool))
            region = replay(inside, ctx.view).data
            if overlaps(region):  # as PyTorch: no gradient through a write to elements sharing memory
                raise RuntimeError(
                    "CopySlices: unsupported operation: more than one element of the written-to tensor refers "
                    "to a single memory location (an in-place op on an expand()ed view). Please clone() the "
                    "tensor before performing the operation."
                )
            region[...] = True
            gb = Where.apply(inside, 0.0, gy)
        if need_value:
            gv = replay(gy, ctx.view)
        return gb, gv, None


def overlaps(array):
    """Whether some elements of the array share memory (an expand()ed view: stride 0, size > 1)."""
    return array.size > 1 and any(s == 0 and n > 1 for s, n in zip(array.strides, array.shape))


def replay(t, view):
    """The tensor that the chain of view ops `view` (see CopySlices) cuts out of t."""
    for op, args in view:
        t = op.apply(t, *args)
    return t


def _check_index_range(op, index, size, what):
    check_index_range(index, size, lambda bad: (
        f"{op}: index {bad} is out of range for {what} of size {size} (valid: 0 to {size - 1}); "
        "negative indices are not wrapped around here"))


class Gather(Function):
    """y[i][j] = x[i][index[i][j]] (dim=1; likewise for any dim), as torch.gather.
    dy/dx: the gradient scattered back to the gathered positions, summed over repeats."""

    def forward(ctx, x, dim, index):
        xp = xp_of(x)
        dim = normalize_dim(dim, x.ndim, "gather")
        if index.ndim != x.ndim:
            raise ValueError(f"gather: index must have as many dims as the input ({x.ndim}), got index of shape {index.shape}")
        if any(index.shape[d] > x.shape[d] for d in range(x.ndim) if d != dim):
            raise ValueError(f"gather: index of shape {index.shape} is larger than the input {x.shape} outside dim {dim}")
        _check_index_range("gather", index, x.shape[dim], f"dim {dim} of the input")
        ctx.dim, ctx.index = dim, index
        ctx.save_for_backward(x)  # for its shape; PyTorch saves x too, so a later in-place change is refused as there
        sub = x[tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(index.shape))]
        return xp.take_along_axis(sub, index, axis=dim)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return ScatterAdd.apply(gy, ctx.dim, ctx.index, x.shape), None, None


class ScatterAdd(Function):
    """y = zeros(shape); y[..index..] += g along dim (the adjoint of gather)    dy/dg: gather"""

    def forward(ctx, g, dim, index, shape):
        xp = xp_of(g)
        ctx.dim, ctx.index = dim, index
        out = xp.zeros(shape, dtype=g.dtype)
        scatter_add(out, coords_along(xp, index, dim), g)
        return out

    def backward(ctx, gy):
        return Gather.apply(gy, ctx.dim, ctx.index), None, None, None


class IndexSelect(Function):
    """y = x.take(index, dim)    dy/dx: rows of the gradient added back at index (repeats sum)"""

    def forward(ctx, x, dim, index):
        dim = normalize_dim(dim, x.ndim, "index_select")
        if index.ndim != 1:
            raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
        _check_index_range("index_select", index, x.shape[dim], f"dim {dim} of the input")
        ctx.dim, ctx.index, ctx.in_shape = dim, index, x.shape
        return x.take(index, axis=dim)

    def backward(ctx, gy):
        index = (slice(None),) * ctx.dim + (ctx.index,)
        return IndexAccumulate.apply(gy, index, ctx.in_shape), None, None
