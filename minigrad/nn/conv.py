"""Convolutions, as PyTorch's Conv1d / Conv2d: im2col (ops/conv.py's Unfold) and one matrix product.

    columns = unfold(x)                       (C_in * kH * kW, N * oH * oW): every window, one column each
    y = W.reshape(C_out, -1) @ columns + b    (C_out, N * oH * oW), then viewed as (N, C_out, oH, oW)

With groups g the channels split into g blocks, each convolved with its own C_out / g filters: the
same product, batched over the blocks. The gradient needs no code of its own: the matmul's, and
Unfold's (col2im). Weights (C_out, C_in / groups, *kernel) and their initialisation are PyTorch's,
so a torch state dict loads unchanged.
"""
from __future__ import annotations

import math

from .. import creation
from ..ops import conv as C
from ..ops import fused
from . import init
from .module import Module, Parameter


def _tuple(value, n, name, op):
    t = (value,) * n if isinstance(value, int) else tuple(value)
    if len(t) != n or not all(isinstance(v, int) for v in t):
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    return t


def conv_padding(padding, kernel, dilation, stride, op):
    """(lo, hi) per spatial dim from an int, a tuple, 'valid' or 'same' (PyTorch: the odd pixel of
    'same' padding goes on the right)."""
    n = len(kernel)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    return tuple((p, p) for p in _tuple(padding, n, "padding", op))


def conv_nd(input, weight, bias, stride, padding, dilation, groups, nd, op):
    """The convolution over the last nd dims of input (N, C_in, *size) or (C_in, *size)."""
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}: weight must have {nd + 2} dims (C_out, C_in / groups, *kernel), got shape {tuple(weight.shape)}")
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if input.ndim != nd + 2:
        size = {1: "L", 2: "H, W", 3: "D, H, W"}[nd]
        raise ValueError(f"{op}: expected input of shape (N, C, {size}) or (C, {size}), got shape {tuple(input.shape)}")
    c_out, c_group = weight.shape[:2]
    c_in = input.shape[1]
    if c_out % groups or c_group * groups != c_in:
        raise ValueError(
            f"{op}: input has {c_in} channels but the weight {tuple(weight.shape)} with groups={groups} expects "
            f"{c_group * groups} (weight is (C_out, C_in / groups, *kernel))"
        )
    kernel = tuple(weight.shape[2:])
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    pads = conv_padding(padding, kernel, dilation, stride, op)
    n = input.shape[0]
    out = C.check_geometry(op, input.shape, kernel, stride, pads, dilation)
    columns = C.Unfold.apply(input, kernel, stride, pads, dilation)  # (C_in * K, N * L)
    if groups == 1:
        y = weight.reshape(c_out, -1) @ columns  # (C_out, N * L)
    else:  # block g of the channels meets block g of the filters
        y = weight.reshape(groups, c_out // groups, -1) @ columns.reshape(groups, -1, columns.shape[-1])
    y = y.reshape(c_out, n, *out)
    if bias is not None:
        y = y + bias.reshape((c_out,) + (1,) * (nd + 1))
    y = y.transpose(0, 1)  # (N, C_out, *out): a view, channels stay contiguous planes in memory
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as in PyTorch) of input (N, C_in, L)."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch) of input (N, C_in, H, W)."""
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """PyTorch's F.unfold: (N, C, H, W) -> (N, C * kH * kW, L), one column per window."""
    kernel = _tuple(kernel_size, 2, "kernel_size", "unfold")
    pads = tuple((p, p) for p in _tuple(padding, 2, "padding", "unfold"))
    columns = C.Unfold.apply(input, kernel, _tuple(stride, 2, "stride", "unfold"), pads,
                             _tuple(dilation, 2, "dilation", "unfold"))
    return columns.reshape(columns.shape[0], input.shape[0], -1).transpose(0, 1)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """PyTorch's F.fold (col2im), the adjoint of unfold: (N, C * kH * kW, L) -> (N, C, H, W),
    values from overlapping windows added up."""
    kernel = _tuple(kernel_size, 2, "kernel_size", "fold")
    size = _tuple(output_size, 2, "output_size", "fold")
    stride, dilation = _tuple(stride, 2, "stride", "fold"), _tuple(dilation, 2, "dilation", "fold")
    pads = tuple((p, p) for p in _tuple(padding, 2, "padding", "fold"))
    n, ck, length = input.shape
    k = kernel[0] * kernel[1]
    out = C.check_geometry("fold", (n, ck // k) + size, kernel, stride, pads, dilation)
    if ck % k or out[0] * out[1] != length:
        raise ValueError(f"fold: input of shape {tuple(input.shape)} does not fit kernel {kernel} and output size "
                         f"{size}: expected (N, C * {k}, {out[0] * out[1]})")
    columns = input.transpose(0, 1).reshape(ck, n * length)
    return C.Fold.apply(columns, (n, ck // k) + size, kernel, stride, pads, dilation)


class _ConvNd(Module):
    nd = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not implemented; only 'zeros'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = _tuple(stride, self.nd, "stride", name)
        self.dilation = _tuple(dilation, self.nd, "dilation", name)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, self.nd, "padding", name)
        conv_padding(self.padding, self.kernel_size, self.dilation, self.stride, name)  # 'same' with stride > 1 fails here
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(creation.zeros(*shape, dtype=dtype, device=device))
        self.bias = Parameter(creation.zeros(out_channels, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return conv_nd(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                       self.nd, type(self).__name__.lower())

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvNd):
    """Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)"""

    nd = 1


class Conv2d(_ConvNd):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)"""

    nd = 2
