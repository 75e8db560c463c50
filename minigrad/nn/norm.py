"""Normalisation layers, as PyTorch's BatchNorm1d / BatchNorm2d and RMSNorm (LayerNorm is in layers.py).

Batch norm normalises each channel with the statistics of the batch while training, and keeps
running averages of them (buffers `running_mean`, `running_var`, `num_batches_tracked`, as in
PyTorch's state dict) to normalise with in eval mode:

    training:  y = (x - mean_batch) / sqrt(var_batch + eps) * weight + bias
               running = (1 - momentum) * running + momentum * batch statistic (unbiased variance)
    eval:      y = (x - running_mean) / sqrt(running_var + eps) * weight + bias

momentum=None averages all batches so far equally (factor 1 / num_batches_tracked).
"""
from __future__ import annotations

import numpy as np

from .. import creation
from ..autograd import no_grad
from ..ops import norm as N
from .module import Module, Parameter


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm: batch statistics while training (updating the running ones in place,
    when given), the running statistics otherwise. Channels are dim 1."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got shape {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)}, expected ({c},) for the {c} channels of "
                             f"input {tuple(input.shape)}")
    if training:
        y = N.BatchNorm.apply(input, weight, bias, eps=eps, momentum=momentum,
                              running_mean=None if running_mean is None else running_mean.data,
                              running_var=None if running_var is None else running_var.data)
        for t in (running_mean, running_var):
            if t is not None:
                t._version[0] += 1
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    shape = (1, c) + (1,) * (input.ndim - 2)
    y = (input - running_mean.reshape(shape)) / (running_var.reshape(shape) + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2) + eps) * weight over the last dims; eps=None: the dtype's machine epsilon."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    return N.RMSNorm.apply(input, tuple(normalized_shape), weight, eps=eps)


class _BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(creation.ones(num_features, dtype=dtype, device=device)) if affine else None
        self.bias = Parameter(creation.zeros(num_features, dtype=dtype, device=device)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.zeros((), dtype=np.int64, device=device))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        with no_grad():
            if self.weight is not None:
                self.weight.fill_(1.0)
            if self.bias is not None:
                self.bias.zero_()

    def _check_input_dim(self, input):
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        if input.ndim >= 2 and input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input has {input.shape[1]} channels "
                             f"(dim 1 of shape {tuple(input.shape)})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            self.num_batches_tracked._version[0] += 1
            if self.momentum is None:  # a cumulative average of every batch so far
                factor = 1.0 / self.num_batches_tracked.data  # an array where the count is: int() would sync
        # eval mode without running statistics (track_running_stats=False) uses the batch's, as PyTorch
        batch_stats = self.training or self.running_mean is None
        running = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if running else None, self.running_var if running else None,
                          self.weight, self.bias, batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
    input (N, C) or (N, C, L)."""

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L), got {input.ndim}D input "
                             f"of shape {tuple(input.shape)}")


class BatchNorm2d(_BatchNorm):
    """BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
    input (N, C, H, W)."""

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W), got {input.ndim}D input of shape "
                             f"{tuple(input.shape)}")


class RMSNorm(Module):
    """RMSNorm(normalized_shape, eps=None, elementwise_affine=True): x / sqrt(mean(x^2) + eps) * weight
    over the last dims (Zhang & Sennrich, 2019). eps=None uses the input dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        self.weight = (Parameter(creation.ones(self.normalized_shape, dtype=dtype, device=device))
                       if elementwise_affine else None)

    def forward(self, input):
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


__all__ = ["BatchNorm1d", "BatchNorm2d", "RMSNorm", "batch_norm", "rms_norm"]
