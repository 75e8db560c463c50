"""im2col and col2im: the two ops that convolution and average pooling are built from.

`Unfold` cuts every window a kernel visits out of a zero-padded input, one column per output
position, so that a convolution becomes one matrix product (nn/conv.py):

    x: (N, C, H, W)  ->  columns: (C * kH * kW, N * oH * oW)      W.reshape(C_out, -1) @ columns

The windows are read through `as_strided` (a view, no loop) and copied once; the copy's
innermost dim runs along an output row, so it streams. `Fold` is its adjoint (col2im): it adds
each column's values back to the input positions they came from (positions read by two
overlapping windows get both). Each is the other's derivative, so a convolution differentiates
to any order. Any number of spatial dims works (1-D, 2-D, 3-D).

Output size along each spatial dim (PyTorch's formula):
    out = (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1
"""
from __future__ import annotations

import itertools

from ..autograd import Function
from ..backend import xp_of


def out_size(size, kernel, stride, pad_lo, pad_hi, dilation):
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def window_view(xpad, kernel, stride, dilation, out):
    """(N, C, *padded) -> a view (C, *kernel, N, *out) of every window, no copy:
    view[c, k..., n, o...] = xpad[n, c, o * stride + k * dilation].
    Windows overlap, so the view is only read (copied), never written; it is not marked
    read-only because cupy's as_strided has no `writeable` argument."""
    xp = xp_of(xpad)
    sn, sc, *ss = xpad.strides
    shape = (xpad.shape[1], *kernel, xpad.shape[0], *out)
    strides = (sc, *(s * d for s, d in zip(ss, dilation)), sn, *(s * st for s, st in zip(ss, stride)))
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def check_geometry(op, shape, kernel, stride, padding, dilation):
    """The output sizes, or a clear error when the kernel does not fit the padded input."""
    spatial = shape[2:]
    out = tuple(out_size(s, k, st, lo, hi, d)
                for s, k, st, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation))
    if any(o < 1 for o in out):
        raise ValueError(
            f"{op}: the kernel {tuple(kernel)} (dilation {tuple(dilation)}) does not fit the input of spatial "
            f"size {tuple(spatial)} padded by {tuple(padding)}: the output would be {out}. Use a smaller "
            "kernel, more padding, or a larger input"
        )
    return out


class Unfold(Function):
    """columns[(c, k...), (n, o...)] = xpad[n, c, o * stride + k * dilation]   (xpad: x zero-padded)

    x (N, C, *size) -> columns (C * prod(kernel), N * prod(out)): im2col.
    d columns / d x: each input position receives the sum of the entries that read it (Fold).
    `padding` holds (lo, hi) per spatial dim.
    """

    def forward(ctx, x, kernel, stride, padding, dilation):
        xp = xp_of(x)
        out = check_geometry("unfold", x.shape, kernel, stride, padding, dilation)
        ctx.args = (x.shape, kernel, stride, padding, dilation)
        if any(lo or hi for lo, hi in padding):
            x = xp.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in padding])
        windows = window_view(x, kernel, stride, dilation, out)
        return xp.ascontiguousarray(windows).reshape(_prod(windows.shape[: 1 + len(kernel)]), -1)

    def backward(ctx, g):
        return Fold.apply(g, *ctx.args)


class Fold(Function):
    """x = the entries of columns added back at the input positions they were read from
    (col2im: the adjoint of Unfold, so d x / d columns = Unfold)."""

    def forward(ctx, columns, in_shape, kernel, stride, padding, dilation):
        xp = xp_of(columns)
        ctx.args = (kernel, stride, padding, dilation)
        n, c = in_shape[0], in_shape[1]
        out = check_geometry("fold", in_shape, kernel, stride, padding, dilation)
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(in_shape[2:], padding))
        g = columns.reshape(c, *kernel, n, *out)
        # built channel-major, (C, N, *size), so that each block adds in without a transpose
        xpad = xp.zeros((c, n, *padded), dtype=columns.dtype)
        for offset in itertools.product(*(range(k) for k in kernel)):  # one (C, N, *out) block per offset
            region = tuple(slice(i * d, i * d + st * (o - 1) + 1, st)
                           for i, d, st, o in zip(offset, dilation, stride, out))
            xpad[(slice(None), slice(None)) + region] += g[(slice(None),) + offset]
        crop = tuple(slice(lo, lo + s) for (lo, _), s in zip(padding, in_shape[2:]))
        return xpad[(slice(None), slice(None)) + crop].swapaxes(0, 1)

    def backward(ctx, gx):
        return Unfold.apply(gx, *ctx.args)


def _prod(sizes):
    p = 1
    for s in sizes:
        p *= s
    return p
