"""Normalisation kernels: batch norm (statistics over the batch) and RMS norm (over features).

Both are fused: one graph node, a first-order backward on raw arrays, and a `composite` in
primitive ops that defines them, serves as the test reference and gives second derivatives
(see ops/fused.py). Layer norm lives in fused.py.
"""
from __future__ import annotations

from ..backend import xp_of
from .fused import Fused


def _channel_shape(x):
    """(1, C, 1, ...): a per-channel vector broadcast against x (N, C, *spatial)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class BatchNorm(Fused):
    """Training-mode batch norm over dim 1 (channels), statistics over every other dim:

        mean = E[x],  var = E[(x - mean)^2] (biased),  xhat = (x - mean) / sqrt(var + eps)
        y = xhat * weight + bias

    With g = dL/dy * weight and M the number of values per channel:
        dL/dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
        dL/dweight = sum(dL/dy * xhat),  dL/dbias = sum(dL/dy)

    Like PyTorch's kernel, forward also updates the running statistics when it is given them,
    in place: running = (1 - momentum) * running + momentum * batch statistic, where the
    running variance takes the unbiased batch variance (var * M / (M - 1)).
    """

    def forward(ctx, x, weight=None, bias=None, eps=1e-5, running_mean=None, running_var=None, momentum=0.1):
        xp = xp_of(x)
        dims = (0,) + tuple(range(2, x.ndim))
        m = x.size // x.shape[1]
        if m <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input of shape {x.shape}; "
                "use a batch of at least 2, or call model.eval() to normalise with the running statistics"
            )
        ctx.save_for_backward(x, weight, bias)
        ctx.kwargs = dict(eps=eps)
        mean = x.mean(axis=dims, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=dims, keepdims=True)
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * rstd
        ctx.xhat, ctx.rstd, ctx.dims = xhat, rstd, dims
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1).astype(running_mean.dtype, copy=False)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * m / (m - 1)) * var.reshape(-1).astype(running_var.dtype, copy=False)
        y = xhat * weight.reshape(_channel_shape(x)) if weight is not None else xhat
        if bias is not None:
            y = y + bias.reshape(_channel_shape(x))
        return y

    def fast_backward(ctx, gy):
        xhat, rstd, dims = ctx.xhat, ctx.rstd, ctx.dims
        _, weight, bias = ctx.saved_tensors
        g = gy * weight.data.reshape(_channel_shape(gy)) if weight is not None else gy
        gx = rstd * (g - g.mean(axis=dims, keepdims=True) - xhat * (g * xhat).mean(axis=dims, keepdims=True))
        gw = (gy * xhat).sum(axis=dims) if weight is not None else None
        gb = gy.sum(axis=dims) if bias is not None else None
        return gx, gw, gb

    @staticmethod
    def composite(x, weight=None, bias=None, eps=1e-5):
        dims = (0,) + tuple(range(2, x.ndim))
        xc = x - x.mean(dim=dims, keepdim=True)
        var = (xc * xc).mean(dim=dims, keepdim=True)
        y = xc / (var + eps).sqrt()
        if weight is not None:
            y = y * weight.reshape(_channel_shape(x))
        if bias is not None:
            y = y + bias.reshape(_channel_shape(x))
        return y


class RMSNorm(Fused):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last dims (no centring, no bias).

    With r = 1 / sqrt(mean(x^2) + eps), xhat = x r and g = dL/dy * weight:
        dL/dx = r * (g - xhat * mean(g * xhat)),   dL/dweight = sum(dL/dy * xhat)
    """

    def forward(ctx, x, normalized_shape, weight=None, eps=1e-6):
        xp = xp_of(x)
        k = len(normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape):
            raise ValueError(
                f"rms_norm: input of shape {x.shape} does not end in normalized_shape {tuple(normalized_shape)}"
            )
        ctx.save_for_backward(x, normalized_shape, weight)
        ctx.kwargs = dict(eps=eps)
        dims = tuple(range(x.ndim - k, x.ndim))
        rstd = 1.0 / xp.sqrt((x * x).mean(axis=dims, keepdims=True) + eps)
        xhat = x * rstd
        ctx.xhat, ctx.rstd, ctx.dims = xhat, rstd, dims
        return xhat * weight if weight is not None else xhat

    def fast_backward(ctx, gy):
        xhat, rstd, dims = ctx.xhat, ctx.rstd, ctx.dims
        _, _, weight = ctx.saved_tensors
        g = gy * weight.data if weight is not None else gy
        gx = rstd * (g - xhat * (g * xhat).mean(axis=dims, keepdims=True))
        gw = (gy * xhat).sum(axis=tuple(range(xhat.ndim - len(dims)))) if weight is not None else None
        return gx, None, gw

    @staticmethod
    def composite(x, normalized_shape, weight=None, eps=1e-6):
        dims = tuple(range(x.ndim - len(normalized_shape), x.ndim))
        y = x / ((x * x).mean(dim=dims, keepdim=True) + eps).sqrt()
        return y * weight if weight is not None else y
