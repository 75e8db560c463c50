"""Attention as one graph node: out = softmax(Q K^T * scale + B) V, forward and backward on arrays.

nn.functional.scaled_dot_product_attention checks its arguments and calls this op; the additive
causal mask (`causal_bias`) is shared with the modules that build their own masks.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ._util import const, unbroadcast
from .cuda_kernels import on as fused_kernel_for
from .cuda_rows import attention_softmax, attention_softmax_backward
from .fused import Fused

_NEG_INF = float("-inf")


def _attention_weights_composite(q, k, v, bias, keep, scale, causal=False):
    """The same computation with primitive ops: (output, weights after dropout)."""
    if causal:
        bias = const(causal_bias(q.shape[-2], k.shape[-2], q.dtype, q.xp, offset=0))
    s = (q @ k.transpose(-2, -1)) * scale
    if bias is not None:
        s = s + bias
        # rows that may see nothing: all zeros (asked on the device for every row: no host sync)
        dead = const((s.data == _NEG_INF).all(axis=-1, keepdims=True))
        p = s.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
    else:
        p = s.softmax(-1)
    if keep is not None:
        p = p * const(keep)
    return p @ v, p


class ScaledDotProductAttention(Fused):
    """out = A V,  A = P * M,  P = softmax(S),  S = Q K^T * scale + B

    B is an additive mask (0 where allowed, -inf where blocked), M the dropout mask already
    scaled by 1/(1-p) (or all ones); causal=True means the causal mask without making it (query i
    sees keys j <= i), which a GPU applies inside its softmax kernel. With dO = dL/dout:
        dL/dV = A^T dO          dL/dA = dO V^T          dL/dP = dL/dA * M
        dL/dS = P * (dL/dP - rowsum(dL/dP * P))          (the softmax Jacobian)
        dL/dQ = dL/dS K * scale     dL/dK = dL/dS^T Q * scale     dL/dB = dL/dS
    summed over batch dims that were broadcast. One node: the (L, S) score matrix is made
    once in forward and the backward is four matmuls on raw arrays.
    """

    def forward(ctx, q, k, v, bias=None, keep=None, scale=1.0, causal=False):
        xp = xp_of(q)
        ctx.save_for_backward(q, k, v, bias)
        ctx.kwargs = dict(keep=keep, scale=scale, causal=causal)  # keep: a raw array (or None), no gradient
        s = q @ xp.swapaxes(k, -1, -2)
        if bias is None and fused_kernel_for(s):  # scale, mask and softmax in one kernel (cuda_rows.py)
            ctx.p = attention_softmax(s, scale, causal)
            return (ctx.p * keep if keep is not None else ctx.p) @ v
        if causal:
            bias = causal_bias(q.shape[-2], k.shape[-2], q.dtype, xp, offset=0)
        s *= scale
        m = None
        if bias is not None:
            if bias.ndim <= s.ndim and all(b in (1, n) for b, n in zip(bias.shape[::-1], s.shape[::-1])):
                s += bias
            else:  # the mask has batch dims the inputs lack
                s = s + bias
            # a row that may attend to nothing is all -inf: shift it by 0 (not by -inf, which gives
            # NaN) and divide it by 1, so that it stays all zeros; elementwise, so the host never
            # has to ask the device whether such a row exists
            m = s.max(axis=-1, keepdims=True)
            m = xp.where(m == _NEG_INF, 0.0, m)
        s -= m if m is not None else s.max(axis=-1, keepdims=True)
        p = xp.exp(s, out=s)
        denom = p.sum(axis=-1, keepdims=True)
        if bias is not None:
            denom = xp.where(denom == 0, 1.0, denom)
        p /= denom
        ctx.p = p
        a = p * keep if keep is not None else p
        return a @ v

    def fast_backward(ctx, gout):
        xp = xp_of(gout)
        q, k, v, bias = ctx.saved_tensors
        q, k, v = q.data, k.data, v.data
        bias = bias.data if bias is not None else None
        need_q, need_k, need_v, need_bias, _ = ctx.needs_input_grad
        keep, scale = ctx.kwargs["keep"], ctx.kwargs["scale"]
        p = ctx.p
        gq = gk = gv = gb = None
        a = p * keep if keep is not None else p
        if need_v:
            gv = unbroadcast(xp.swapaxes(a, -1, -2) @ gout, v.shape)
        if not (need_q or need_k or need_bias):
            return gq, gk, gv, gb, None
        gp = gout @ xp.swapaxes(v, -1, -2)
        if not need_bias and fused_kernel_for(gp):  # dropout mask, softmax Jacobian and scale in one kernel
            gs = attention_softmax_backward(gp, p, keep, scale)
        else:
            if keep is not None:
                gp *= keep
            gs = gp
            gs -= (gp * p).sum(axis=-1, keepdims=True)
            gs *= p
            if need_bias:
                gb = unbroadcast(gs, bias.shape)
            gs *= scale
        if need_q:
            gq = unbroadcast(gs @ k, q.shape)
        if need_k:
            gk = unbroadcast(xp.swapaxes(gs, -1, -2) @ q, k.shape)
        return gq, gk, gv, gb, None

    @staticmethod
    def composite(q, k, v, bias=None, keep=None, scale=1.0, causal=False):
        return _attention_weights_composite(q, k, v, bias, keep, scale, causal)[0]


# -- masks -------------------------------------------------------------------------------
_causal_cache: dict = {}


def causal_bias(L, S, dtype=np.float32, xp=np, offset=None):
    """Additive (L, S) mask: 0 where query i may see key j, -inf where j is in its future.

    Query i sits at position offset + i among the keys; offset defaults to S - L, so that the
    last query sees every key (a chunk of new tokens after a cache of S - L old ones). With
    L == S that is the ordinary lower-triangular mask.
    """
    if offset is None:
        offset = S - L
    key = (L, S, offset, np.dtype(dtype).str, xp)
    bias = _causal_cache.get(key)
    if bias is None:
        future = xp.arange(S)[None, :] > (xp.arange(L)[:, None] + offset)
        bias = xp.where(future, _NEG_INF, 0.0).astype(dtype)
        if len(_causal_cache) > 64:
            _causal_cache.clear()
        _causal_cache[key] = bias
    return bias
