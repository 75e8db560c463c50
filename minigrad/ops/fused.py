"""Fused ops: one graph node each, for speed and numerical stability.

softmax and log_softmax have short backward formulas written with Tensor ops. The heavier
kernels (linear, cross_entropy, layer_norm, embedding) compute their first-order backward on
raw arrays, which is fast; when a second derivative is asked for (create_graph=True), they
differentiate their `composite`: the same function written with primitive ops. The composite
is also the readable definition of what the kernel computes, and a test checks they agree.
"""
from __future__ import annotations

import math

from .. import autograd
from ..autograd import Function, enable_grad, grad, is_grad_enabled
from ..backend import check_index_range, scatter_add, xp_of
from ._util import const, normalize_dim
from .cuda_kernels import on as fused_kernel_for
from .elementwise import Where
from .cuda_rows import cross_entropy_backward, cross_entropy_forward, layer_norm_backward, layer_norm_forward


class Fused(Function):
    """A kernel with a raw-array backward (`fast_backward`) and a composite for higher orders."""

    def backward(ctx, gy):
        if not is_grad_enabled():
            return tuple(None if g is None else const(g) for g in ctx.fast_backward(gy.data))
        inputs = ctx.saved_tensors  # the composite's positional arguments; the rest are in ctx.kwargs
        wanted = [i for i, need in enumerate(ctx.needs_input_grad) if need]
        with enable_grad():
            out = ctx.composite(*inputs, **ctx.kwargs)
        grads = grad(out, [inputs[i] for i in wanted], gy, create_graph=True, allow_unused=True)
        result = [None] * len(inputs)
        for i, g in zip(wanted, grads):
            result[i] = g
        return tuple(result)


class Softmax(Function):
    """y = exp(x) / sum exp(x)    dL/dx = y * (dL/dy - sum(dL/dy * y))   (along dim)"""

    def forward(ctx, x, dim=-1):
        xp = xp_of(x)
        ctx.dim = normalize_dim(dim, x.ndim, "softmax")
        ctx.save_output()
        if x.size == 0:  # nothing to normalise
            return x.copy()
        axis = ctx.dim if x.ndim else ()  # a 0-d tensor is one value: softmax 1
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def backward(ctx, gy):
        y = ctx.output
        return gy * y - y * (gy * y).sum(dim=ctx.dim, keepdim=True)


class LogSoftmax(Function):
    """y = x - logsumexp(x)    dL/dx = dL/dy - exp(y) * sum(dL/dy)   (along dim)"""

    def forward(ctx, x, dim=-1):
        xp = xp_of(x)
        ctx.dim = normalize_dim(dim, x.ndim, "log_softmax")
        ctx.save_output()
        if x.size == 0:  # nothing to normalise
            return x.copy()
        axis = ctx.dim if x.ndim else ()  # a 0-d tensor is one value: log_softmax 0
        shifted = x - x.max(axis=axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        return shifted

    def backward(ctx, gy):
        y = ctx.output
        return gy - y.exp() * gy.sum(dim=ctx.dim, keepdim=True)


class Linear(Function):
    """y = x @ W^T + b    dL/dx = dL/dy @ W,  dL/dW = dL/dy^T @ x,  dL/db = sum dL/dy

    One node instead of transpose + matmul + add; batch dims are folded into one matmul.
    """

    def forward(ctx, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} has {x.shape[-1]} features but the weight of shape "
                f"{weight.shape} expects {weight.shape[1]} (weight is (out_features, in_features))"
            )
        if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
            raise RuntimeError(
                f"linear: input of dtype {x.dtype} and weight of dtype {weight.dtype}"
                + (f" (bias {bias.dtype})" if bias is not None else "")
                + ": a matrix product needs the same dtype (PyTorch does not promote here). Convert the "
                "input (x.float()) or the layer (layer.double())"
            )
        ctx.save_for_backward(x, weight)
        # numpy runs a 3-D @ 2-D product as a loop of small matmuls: one 2-D matmul is faster
        y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        if bias is not None:
            y += bias
        return y

    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        out_f, in_f = weight.shape
        gx = (gy.reshape(-1, out_f) @ weight).reshape(x.shape) if need_x else None
        gw = gy.reshape(-1, out_f).transpose(0, 1) @ x.reshape(-1, in_f) if need_w else None
        gb = gy.reshape(-1, out_f).sum(dim=0) if need_b else None
        return gx, gw, gb

    def reads_saved_input(ctx, i):
        return ctx.needs_input_grad[1 - i]  # x for dL/dW, W for dL/dx


class CrossEntropy(Fused):
    """loss = -sum_c q_c log softmax(x)_c, averaged (or summed) over the batch.

    With class indices, q is the one-hot target, smoothed to (1-eps) one_hot + eps/C when
    label_smoothing=eps; class weights scale each row by w[target]; ignored rows count for
    nothing (not even in the mean's denominator). With class probabilities, q is the target.
    dL/dx_j = sum_c w_c q_c (softmax(x)_j - [c = j])  (times the reduction's scale)
    The class dim is dim 1, as in PyTorch: logits (N, C) or (N, C, d1, ...), or (C,) alone.
    """

    def forward(ctx, x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        xp = xp_of(x)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        ctx.kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
        ctx.save_for_backward(x, target, weight)
        probs_target = target.dtype.kind == "f"
        if x.ndim == 0:
            raise ValueError("cross_entropy: logits must have a class dim, got a scalar")
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        if probs_target:
            if target.shape != x.shape:
                raise ValueError(f"cross_entropy: probability targets must have the logits' shape {x.shape}, got {target.shape}")
        else:
            if target.dtype.kind not in "iu":
                raise TypeError(f"cross_entropy: target must hold integer class indices (or float probabilities), got dtype {target.dtype}")
            expected = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
            if target.shape != expected:
                raise ValueError(
                    f"cross_entropy: logits of shape {x.shape} (class dim 1 of size {C}) need a target of "
                    f"shape {expected}, got {target.shape}. For a sequence model, flatten: "
                    "logits.reshape(-1, C) and target.reshape(-1)"
                )
        # move the class dim last and flatten the rest: rows of C logits
        x2 = x.reshape(1, C) if x.ndim == 1 else xp.moveaxis(x, 1, -1).reshape(-1, C)
        N = x2.shape[0]
        w = weight
        if not probs_target and not label_smoothing and fused_kernel_for(x2):  # one kernel (cuda_rows.py)
            ctx.t_safe, valid, ctx.w_row = _class_targets(target, w, ignore_index, C, x.dtype)
            loss_rows, ctx.lse = cross_entropy_forward(x2, ctx.t_safe, ctx.w_row)
            logp, wq, denom, ctx.x2 = None, None, ctx.w_row.sum(), x2
        elif probs_target:
            logp = _log_softmax_rows(x2)
            q = target.reshape(1, C) if x.ndim == 1 else xp.moveaxis(target, 1, -1).reshape(-1, C)
            if label_smoothing:
                q = q * (1 - label_smoothing) + label_smoothing / C
            wq = q * w if w is not None else q
            loss_rows = -(wq * logp).sum(axis=1)
            denom = N
            valid = None
        else:
            t_safe, valid, w_row = _class_targets(target, w, ignore_index, C, x.dtype)
            logp = _log_softmax_rows(x2)
            rows = xp.arange(N)
            loss_rows = -logp[rows, t_safe] * w_row * (1 - label_smoothing)
            if label_smoothing:
                smooth = -(logp * w).sum(axis=1) if w is not None else -logp.sum(axis=1)
                loss_rows = loss_rows + smooth * valid * (label_smoothing / C)
            denom = w_row.sum()
            ctx.t_safe, ctx.w_row = t_safe, w_row
            wq = None
        ctx.logp, ctx.valid, ctx.wq, ctx.C, ctx.N = logp, valid, wq, C, N
        ctx.x_shape, ctx.reduction, ctx.denom = x.shape, reduction, denom
        ctx.label_smoothing, ctx.weight = label_smoothing, w
        if reduction == "sum":
            return loss_rows.sum()
        if reduction == "mean":
            return loss_rows.sum() / denom
        return loss_rows.reshape(() if x.ndim == 1 else x.shape[:1] + x.shape[2:])

    def fast_backward(ctx, gy):
        xp = xp_of(ctx.logp)
        _, need_target, need_weight = ctx.needs_input_grad
        if need_weight:
            raise RuntimeError(
                "cross_entropy: not differentiable with respect to the class weights (as in PyTorch); "
                "pass weight.detach()"
            )
        if ctx.logp is None:  # the fused kernel's forward: it kept each row's log-sum-exp, not log p
            g = cross_entropy_backward(ctx.x2, ctx.t_safe, ctx.w_row, ctx.lse, _reduction_scale(ctx, gy))
            return _rows_to_logits_shape(g, ctx.x_shape), None, None
        p = xp.exp(ctx.logp)
        C, N, w, eps = ctx.C, ctx.N, ctx.weight, ctx.label_smoothing
        if ctx.wq is not None:  # probability targets
            g = p * ctx.wq.sum(axis=1, keepdims=True) - ctx.wq
        else:
            rows = xp.arange(N)
            g = p * ctx.w_row[:, None]
            g[rows, ctx.t_safe] -= ctx.w_row
            if eps:
                g *= 1 - eps
                W = w.sum() if w is not None else C
                smooth = p * W - (w if w is not None else 1.0)
                g += smooth * (ctx.valid[:, None] * (eps / C))
        scale = _reduction_scale(ctx, gy)
        g *= scale
        gx = _rows_to_logits_shape(g.astype(ctx.logp.dtype, copy=False), ctx.x_shape)
        g_target = None
        if need_target:  # probability targets can take a gradient: dL/dq = -(1 - eps) w log p
            gq = -(1 - eps) * (ctx.logp * w if w is not None else ctx.logp) * scale
            g_target = _rows_to_logits_shape(gq.astype(ctx.logp.dtype, copy=False), ctx.x_shape)
        return gx, g_target, None

    @staticmethod
    def composite(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        x2 = x.reshape(1, C) if x.ndim == 1 else x.movedim(1, -1).reshape(-1, C)
        logp = x2.log_softmax(dim=1)
        if target.dtype.kind == "f":
            q = target.reshape(1, C) if x.ndim == 1 else target.movedim(1, -1).reshape(-1, C)
            q = q * (1 - label_smoothing) + label_smoothing / C
            wq = q * weight if weight is not None else q
            rows = -(wq * logp).sum(dim=1)
            if reduction == "mean":
                return rows.sum() / x2.shape[0]
            return rows.sum() if reduction == "sum" else rows.reshape(() if x.ndim == 1 else x.shape[:1] + x.shape[2:])
        t = target.reshape(-1).data
        valid = t != ignore_index
        t_safe = xp_of(t).where(valid, t, 0)
        w_row = (weight.data[t_safe] if weight is not None else 1.0) * valid
        w_row = const(w_row.astype(x.dtype))
        picked = logp.gather(1, const(t_safe.reshape(-1, 1))).reshape(-1)
        rows = -picked * w_row * (1 - label_smoothing)
        if label_smoothing:
            wl = logp * weight if weight is not None else logp
            rows = rows - wl.sum(dim=1) * const(valid.astype(x.dtype)) * (label_smoothing / C)
        if reduction == "sum":
            return rows.sum()
        if reduction == "mean":
            return rows.sum() / w_row.sum()
        return rows.reshape(() if x.ndim == 1 else x.shape[:1] + x.shape[2:])


def _log_softmax_rows(x2):
    """log softmax along each row (dim 1) of x2, as arrays."""
    xp = xp_of(x2)
    logp = x2 - x2.max(axis=1, keepdims=True)
    logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
    return logp


def _class_targets(target, weight, ignore_index, C, dtype):
    """(safe targets, valid, row weights) of class-index targets: ignored rows point at class 0 with
    weight 0; a target outside [0, C) raises (checked on the device without a wait, on a GPU)."""
    xp = xp_of(target)
    t = target.reshape(-1)
    valid = t != ignore_index
    t_safe = xp.where(valid, t, 0)
    check_index_range(t_safe, C, lambda bad: (
        f"cross_entropy: target {bad} is out of range for {C} classes (valid: 0 to {C - 1}, "
        f"or ignore_index={ignore_index}); negative targets are not wrapped around"))
    w_row = (weight[t_safe] if weight is not None else xp.ones(t.shape[0], dtype=dtype)) * valid
    return t_safe, valid, w_row


def _reduction_scale(ctx, gy):
    """What each row's loss is multiplied by: the incoming gradient, over the mean's denominator."""
    if ctx.reduction == "none":
        return gy.reshape(-1, 1)
    if ctx.reduction == "mean":
        return gy / ctx.denom
    return gy


def _rows_to_logits_shape(g, shape):
    """Rows of C values (class dim last, flattened) back to the logits' layout (class dim 1)."""
    if len(shape) == 1:
        return g.reshape(shape)
    moved = (shape[0],) + shape[2:] + (shape[1],)
    return xp_of(g).moveaxis(g.reshape(moved), -1, 1)


class LayerNorm(Fused):
    """y = (x - mean) / sqrt(var + eps) * w + b over the last dims (biased variance).

    With xhat = (x - mean) * rstd and g = dL/dy * w:
    dL/dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dL/dw = sum dL/dy * xhat,  dL/db = sum dL/dy
    """

    def forward(ctx, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        xp = xp_of(x)
        k = len(normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape):
            raise ValueError(
                f"layer_norm: input of shape {x.shape} does not end in normalized_shape {tuple(normalized_shape)}"
            )
        if any(a is not None and a.dtype != x.dtype for a in (weight, bias)):
            raise RuntimeError(
                f"layer_norm: input of dtype {x.dtype} with weight/bias of dtype "
                f"{(weight if weight is not None else bias).dtype}: all must share one dtype, as in PyTorch. "
                "Convert the input or the layer (.float() / .double())"
            )
        ctx.save_for_backward(x, normalized_shape, weight, bias)
        ctx.kwargs = dict(eps=eps)
        ctx.has_w, ctx.has_b = weight is not None, bias is not None
        if fused_kernel_for(x):  # one kernel (cuda_rows.py), keeping each row's mean and 1/std, not xhat
            ctx.normalized_shape, C = tuple(normalized_shape), math.prod(normalized_shape)
            y, ctx.mean, ctx.rstd = layer_norm_forward(x.reshape(-1, C), _flat(weight), _flat(bias), eps)
            ctx.xhat = None
            return y.reshape(x.shape)
        dims = tuple(range(x.ndim - k, x.ndim))
        mu = x.mean(axis=dims, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=dims, keepdims=True)
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * rstd
        ctx.xhat, ctx.rstd, ctx.dims = xhat, rstd, dims
        y = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            y += bias
        return y

    def fast_backward(ctx, gy):
        x, _, weight, _ = ctx.saved_tensors
        if ctx.xhat is None:  # the fused kernel's forward
            shape = ctx.normalized_shape
            C = math.prod(shape)
            gx, gw, gb = layer_norm_backward(x.data.reshape(-1, C), _flat(weight), gy.reshape(-1, C), ctx.mean,
                                             ctx.rstd, ctx.has_w or ctx.has_b)
            return (gx.reshape(x.shape), None, gw.reshape(shape) if ctx.has_w else None,
                    gb.reshape(shape) if ctx.has_b else None)
        xhat, rstd, dims = ctx.xhat, ctx.rstd, ctx.dims
        batch = tuple(range(xhat.ndim - len(dims)))
        g = gy * weight.data if weight is not None else gy
        gx = rstd * (g - g.mean(axis=dims, keepdims=True) - xhat * (g * xhat).mean(axis=dims, keepdims=True))
        gw = (gy * xhat).sum(axis=batch) if ctx.has_w else None
        gb = gy.sum(axis=batch) if ctx.has_b else None
        return gx, None, gw, gb

    @staticmethod
    def composite(x, normalized_shape, weight=None, bias=None, eps=1e-5):
        dims = tuple(range(x.ndim - len(normalized_shape), x.ndim))
        mu = x.mean(dim=dims, keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(dim=dims, keepdim=True)
        y = xc / (var + eps).sqrt()
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y


def _flat(t):
    """A weight or bias (an array, or a Tensor's array) flattened, or None. (Never getattr(t, "data"):
    a bare array's .data is a buffer or a device pointer, not the array.)"""
    if t is None:
        return None
    return (t.data if isinstance(t, autograd.Tensor) else t).reshape(-1)


class Embedding(Fused):
    """y = W[idx] (a row lookup)    dL/dW[r] = sum of dL/dy over the positions where idx == r

    The lookup is differentiable in W because it equals one_hot(idx) @ W; a row read twice
    gets both gradients (scatter-add). Rows at padding_idx get no gradient, as in PyTorch.
    """

    def forward(ctx, weight, idx, padding_idx=None):
        if idx.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}; use .long()")
        V = weight.shape[0]
        check_index_range(idx, V, lambda bad: (
            f"embedding: index {bad} is out of range for a table of {V} rows (valid: 0 to {V - 1}); "
            "negative ids are not wrapped around. Check the tokenizer's vocab_size against num_embeddings"))
        ctx.save_for_backward(weight, idx)
        ctx.kwargs = dict(padding_idx=padding_idx)
        ctx.idx, ctx.shape, ctx.padding_idx = idx, weight.shape, padding_idx
        return weight[idx]

    def fast_backward(ctx, gy):
        xp = xp_of(gy)
        gw = xp.zeros(ctx.shape, dtype=gy.dtype)
        scatter_add(gw, ctx.idx.reshape(-1), gy.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None

    @staticmethod
    def composite(weight, idx, padding_idx=None):
        idx = idx.data if isinstance(idx, autograd.Tensor) else idx  # an index array, or a Tensor holding one
        y = weight[idx]
        if padding_idx is not None:  # the same values, but no gradient into the padding row
            keep = const(xp_of(idx).expand_dims(idx != padding_idx, -1))
            y = Where.apply(keep, y, y.detach())
        return y
