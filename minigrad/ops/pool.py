"""Max pooling: a hard lookup. Where each window's maximum sits is found without a gradient
(`max_pool_indices`), then the values are read from there (`MaxPool`), so the gradient goes to
the one element each window picked, as in PyTorch (the first one, on a tie).

Average pooling needs no op of its own: it is the mean of the columns that `conv.Unfold` cuts out
(nn/pooling.py); `avg_pool_divisor` gives PyTorch's divisor at the borders.
"""
from __future__ import annotations

from ..backend import scatter_add, xp_of
from ._util import coords_along
from .conv import window_view
from .fused import Fused


def pool_geometry(op, spatial, kernel, stride, padding, dilation, ceil_mode):
    """(padding as (lo, hi) pairs, output sizes) with PyTorch's rules.

    ceil_mode rounds the output size up, so a last window may hang over the right edge (it is
    padded for the view); it must still start inside the input or the left padding."""
    pads, out = [], []
    for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k} (dilation {d})")
        span = size + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise ValueError(f"{op}: the kernel {tuple(kernel)} does not fit the input of spatial size "
                             f"{tuple(spatial)} padded by {tuple(padding)}")
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        extra = max(0, (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
        pads.append((p, p + extra))
        out.append(o)
    return tuple(pads), tuple(out)


def max_pool_indices(x, kernel, stride, padding, dilation, ceil_mode=False):
    """For x (N, C, *size): where each window's maximum is, as an index into the flattened
    spatial plane of x (PyTorch's `return_indices`), shape (N, C, *out). No gradient: a lookup key.

    The windows are copied once, then one pass per kernel offset keeps the best so far: the first
    maximum wins a tie and a NaN wins over any number, as in PyTorch."""
    xp = xp_of(x)
    nd = len(kernel)
    pads, out = pool_geometry("max_pool", x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    xpad = xp.pad(x, [(0, 0), (0, 0)] + list(pads), constant_values=-xp.inf) if any(hi for _, hi in pads) else x
    windows = window_view(xpad, kernel, stride, dilation, out)  # (C, *kernel, N, *out)
    k_total = 1
    for k in kernel:
        k_total *= k
    blocks = xp.ascontiguousarray(windows).reshape((x.shape[1], k_total, x.shape[0]) + out)
    best = blocks[:, 0].copy()
    best_at = xp.zeros(best.shape, dtype=xp.int64)
    for k in range(1, k_total):
        v = blocks[:, k]
        better = v > best
        better |= v != v  # NaN
        xp.maximum(best, v, out=best)
        xp.copyto(best_at, k, where=better)
    # the kernel offset of the maximum -> its position in the unpadded input, then a flat index
    flat, rest, positions = 0, best_at, []
    for d in reversed(range(nd)):
        positions.append(rest % kernel[d])
        rest = rest // kernel[d]
    positions.reverse()
    for d in range(nd):
        start = xp.arange(out[d]).reshape((-1,) + (1,) * (nd - 1 - d)) * stride[d] - padding[d]
        flat = flat * x.shape[2 + d] + start + positions[d] * dilation[d]
    return flat.swapaxes(0, 1)  # (C, N, *out) -> (N, C, *out)


class MaxPool(Fused):
    """y[n, c, o] = x[n, c, indices[n, c, o]] (indices into the flattened spatial plane)

    dy/dx: each window's gradient goes to the element it picked; where windows overlap
    (stride < kernel) an element picked twice gets both. The composite is a gather.
    `overlapping=False` promises that no element is picked twice (stride >= kernel): the
    backward then writes instead of accumulating, several times faster.
    """

    def forward(ctx, x, indices, overlapping=True):
        xp = xp_of(x)
        n, c = x.shape[:2]
        ctx.save_for_backward(x, indices)
        ctx.kwargs = {"overlapping": overlapping}
        ctx.in_shape = x.shape
        ctx.indices, ctx.overlapping = indices, overlapping
        flat_index = indices.reshape(n, c, -1)
        return xp.take_along_axis(x.reshape(n, c, -1), flat_index, axis=2).reshape(indices.shape)

    def fast_backward(ctx, gy):
        xp = xp_of(gy)
        n, c = ctx.in_shape[:2]
        gx = xp.zeros((n, c, _plane(ctx.in_shape)), dtype=gy.dtype)
        coords = coords_along(xp, ctx.indices.reshape(n, c, -1), 2)
        if ctx.overlapping:
            scatter_add(gx, coords, gy.reshape(n, c, -1))  # a position picked by two windows gets both
        else:
            gx[coords] = gy.reshape(n, c, -1)
        return gx.reshape(ctx.in_shape), None

    @staticmethod
    def composite(x, indices, overlapping=True):
        n, c = x.shape[:2]
        return x.flatten(2).gather(2, indices.reshape(n, c, -1)).reshape(indices.shape)


def _plane(shape):
    p = 1
    for s in shape[2:]:
        p *= s
    return p


def avg_pool_divisor(xp, spatial, kernel, stride, padding, out, count_include_pad, divisor_override):
    """How many values each window's sum is divided by, shape (*out,), PyTorch's rule: the
    window clipped to the padded input (count_include_pad) or to the input itself."""
    if divisor_override is not None:
        return divisor_override
    total = None
    for d, (size, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, out)):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        count = (end - start).reshape((-1,) + (1,) * (len(out) - 1 - d))
        total = count if total is None else total * count
    return total
