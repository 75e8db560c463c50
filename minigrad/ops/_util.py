"""Small helpers shared by the ops: shapes, broadcasting, wrapping raw arrays."""
from __future__ import annotations

from .. import autograd
from ..backend import as_array


def shape_of(a):
    """The shape of an array argument, or None for a Python number (which takes no gradient)."""
    return getattr(a, "shape", None)


def unbroadcast(g, shape):
    """Sum a gradient back to the shape of the input it belongs to.

    Broadcasting copies an input along new leading dims and along dims of size 1; the
    derivative of a copy is a sum, so the gradient is summed over exactly those dims.
    `g` is a Tensor (a backward on Tensors) or an array (a fused kernel's raw backward).
    """
    if shape is None:
        return None
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead:  # new leading dims: summed away
        g = g.sum(0 if lead == 1 else tuple(range(lead)))
    ones = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if ones:  # dims of size 1 that were stretched: summed, kept as size 1
        g = g.sum(ones, keepdim=True) if isinstance(g, autograd.Tensor) else g.sum(ones, keepdims=True)
    return g


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(
            f"{op}: dim {dim} is out of range for a tensor with {ndim} dims "
            f"(expected a value in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])"
        )
    return dim % max(ndim, 1)


def normalize_dims(dim, ndim: int, op: str):
    """dim=None -> all dims; an int or a sequence -> a sorted tuple of non-negative dims.

    A 0-d tensor accepts dim 0 and -1, as in PyTorch, and has no dim to reduce: ()."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dims = (normalize_dim(dim, ndim, op),)
    else:
        dims = tuple(sorted([normalize_dim(d, ndim, op) for d in dim]))
    return dims if ndim else ()


def const(array):
    """Wrap a raw array as a Tensor that takes no gradient (a mask, a sign, an index)."""
    return autograd.Tensor._make(as_array(array), False, None)


def coords_along(xp, index, dim):
    """The coordinates that put `index` along dim and every other dim in place, as a tuple for
    fancy indexing: the other dims' coordinates are aranges shaped to broadcast against index
    (numpy's sparse `indices`, which cupy's `indices` does not offer)."""
    coords = [xp.arange(n).reshape((1,) * d + (n,) + (1,) * (index.ndim - d - 1)) for d, n in enumerate(index.shape)]
    coords[dim] = index
    return tuple(coords)
