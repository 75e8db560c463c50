"""Pooling, as PyTorch's MaxPool1d/2d and AvgPool1d/2d.

Max pooling is a hard lookup (ops/pool.py): the position of each window's maximum carries no
gradient, the value read from it does. Average pooling is the mean of each window's row of
im2col (ops/conv.py's Unfold), so its gradient is Unfold's: each element gets the share of
every window it belongs to.
"""
from __future__ import annotations

from ..ops import conv as C
from ..ops import pool as P
from ..tensor import Tensor
from .conv import _tuple
from .module import Module


def _pool_args(input, kernel_size, stride, padding, dilation, nd, op):
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected input with {nd + 1} or {nd + 2} dims ((N,) C, *size), got shape {tuple(input.shape)}")
    kernel = _tuple(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or stride == [] else _tuple(stride, nd, "stride", op)
    return kernel, stride, _tuple(padding, nd, "padding", op), _tuple(dilation, nd, "dilation", op)


def max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    kernel, stride, padding, dilation = _pool_args(input, kernel_size, stride, padding, dilation, nd, op)
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got dtype {x.dtype}")
    indices = P.max_pool_indices(x.data, kernel, stride, padding, dilation, ceil_mode)
    overlapping = any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
    y = P.MaxPool.apply(x, indices, overlapping=overlapping)
    if unbatched:
        y, indices = y.squeeze(0), indices[0]
    if return_indices:
        return y, Tensor._make(indices, False, None)
    return y


def avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd, op):
    kernel, stride, padding, _ = _pool_args(input, kernel_size, stride, padding, 1, nd, op)
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    pads, out = P.pool_geometry(op, x.shape[2:], kernel, stride, padding, (1,) * nd, ceil_mode)
    columns = C.Unfold.apply(x, kernel, stride, pads, (1,) * nd)  # (C * K, N * L), zeros in the padding
    n, c = x.shape[:2]
    sums = columns.reshape(c, -1, n, *out).sum(1)  # (C, N, *out)
    divisor = P.avg_pool_divisor(x.xp, x.shape[2:], kernel, stride, padding, out, count_include_pad, divisor_override)
    if not isinstance(divisor, (int, float)):
        divisor = Tensor._make(divisor.astype(x.dtype), False, None)
    y = (sums / divisor).transpose(0, 1)
    return y.squeeze(0) if unbatched else y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum of each window; with return_indices also where it is (flat index into H * W)."""
    return max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each window (the padding counts as zeros unless count_include_pad=False)."""
    return avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                       "avg_pool2d")


class _MaxPoolNd(Module):
    nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return max_pool_nd(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                           self.return_indices, self.nd, type(self).__name__)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    nd = 1


class MaxPool2d(_MaxPoolNd):
    """MaxPool2d(kernel_size, stride=None (= kernel_size), padding=0, dilation=1, return_indices=False, ceil_mode=False)"""

    nd = 2


class _AvgPoolNd(Module):
    nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return avg_pool_nd(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override, self.nd, type(self).__name__)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)

    nd = 1


class AvgPool2d(_AvgPoolNd):
    """AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)"""

    nd = 2
