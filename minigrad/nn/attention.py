"""Attention: softmax(Q K^T / sqrt(d_k)) V as one graph node, multi-head attention with
PyTorch's weight layout, and a key/value cache for incremental decoding.

Attention is a soft lookup. A hard lookup `table[i]` returns one row and cuts the graph at
the integer i; attention returns a weighted average of the rows of V, with weights
softmax(q . k_j / sqrt(d_k)) that are smooth in q and k, so the gradient reaches the
queries, the keys and the values.

Masks come in two conventions, as in PyTorch:
  scaled_dot_product_attention: a bool attn_mask is True where a query MAY attend;
  MultiheadAttention:           a bool attn_mask / key_padding_mask is True where it may NOT.
A float mask is added to the scores in both (use -inf to block). A query that may attend to
nothing at all gets an output of zeros (PyTorch's scaled_dot_product_attention does the same).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import is_grad_enabled
from ..backend import xp_of
from ..ops._util import const
from ..ops.cuda_kernels import on as fused_kernel_for
from ..ops.cuda_rows import attention_softmax, attention_softmax_backward
from ..ops.fused import Fused
from ..tensor import Tensor
from . import functional as F
from . import init
from .inputs import mask_to_bias
from .layers import Linear
from .module import Module, Parameter

_NEG_INF = float("-inf")


# -- the fused kernel ------------------------------------------------------------------------
def _sum_to(g, shape):
    """Sum a raw-array gradient back to a broadcast input's shape."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=dims, keepdims=True).reshape(shape)


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
        ctx.save_inputs()
        ctx.kwargs = dict(scale=scale, causal=causal)
        s = q @ xp.swapaxes(k, -1, -2)
        if bias is None and fused_kernel_for(s):  # scale, mask and softmax in one kernel (cuda_rows.py)
            ctx.p = attention_softmax(s, scale, causal)
            return (ctx.p * keep if keep is not None else ctx.p) @ v
        if causal:
            bias = causal_bias(q.shape[-2], k.shape[-2], q.dtype, xp, offset=0)
        s *= scale
        m = None
        if bias is not None:
            if np.broadcast_shapes(s.shape, bias.shape) == s.shape:
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
        q, k, v, bias, keep = ctx.inputs  # keep is a raw array (or None), the others Tensors
        q, k, v = q.data, k.data, v.data
        bias = bias.data if bias is not None else None
        nq, nk, nv, nb, _ = ctx.next_functions
        scale = ctx.kwargs["scale"]
        p = ctx.p
        gq = gk = gv = gb = None
        a = p * keep if keep is not None else p
        if nv is not None:
            gv = _sum_to(xp.swapaxes(a, -1, -2) @ gout, v.shape)
        if nq is None and nk is None and nb is None:
            return gq, gk, gv, gb, None
        gp = gout @ xp.swapaxes(v, -1, -2)
        if nb is None and fused_kernel_for(gp):  # dropout mask, softmax Jacobian and scale in one kernel
            gs = attention_softmax_backward(gp, p, keep, scale)
        else:
            if keep is not None:
                gp *= keep
            gs = gp
            gs -= (gp * p).sum(axis=-1, keepdims=True)
            gs *= p
            if nb is not None:
                gb = _sum_to(gs, bias.shape)
            gs *= scale
        if nq is not None:
            gq = _sum_to(gs @ k, q.shape)
        if nk is not None:
            gk = _sum_to(xp.swapaxes(gs, -1, -2) @ q, k.shape)
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


def _as_bias(mask, dtype, who, allowed_when):
    """A bool mask -> an additive float one; a float mask passes through (as a Tensor).

    allowed_when: the bool value that means "may attend" (True for SDPA, False for MHA)."""
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    if mask.dtype == np.bool_:
        return mask_to_bias(mask, dtype, attend=allowed_when)
    if mask.dtype.kind != "f":
        raise TypeError(f"{who}: a mask must be bool or float, got dtype {mask.dtype}")
    return mask if mask.dtype == dtype else mask.type(dtype)


def _add_bias(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if not a.requires_grad and not b.requires_grad:
        return const(a.data + b.data)
    return a + b


def _check_qkv(q, k, v, who):
    for name, t in (("query", q), ("key", k), ("value", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2 or t.dtype.kind != "f":
            raise ValueError(f"{who}: {name} must be a float tensor of shape (..., seq, dim), got shape "
                             f"{tuple(t.shape)} and dtype {t.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{who}: query and key need the same last dim (d_k), got query {tuple(q.shape)} "
                         f"and key {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{who}: key and value need the same sequence length (dim -2), got key "
                         f"{tuple(k.shape)} and value {tuple(v.shape)}")
    try:
        return np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{who}: the batch dims of query {tuple(q.shape)}, key {tuple(k.shape)} and value "
                         f"{tuple(v.shape)} do not broadcast") from None


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, generator=None):
    """softmax(Q K^T * scale + mask) V with scale = 1/sqrt(d_k), as torch's F.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    attn_mask: bool (True = may attend) or float (added to the scores), broadcastable to (..., L, S).
    is_causal: query i sees keys 0..i (the top-left aligned lower triangle, as PyTorch).
    dropout_p: dropout on the attention weights; applied whenever > 0, so pass 0.0 in eval mode.
    """
    batch = _check_qkv(query, key, value, "scaled_dot_product_attention")
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both "
                         "(fold the causal mask into attn_mask if you need both)")
    dtype = query.dtype
    bias = None
    if attn_mask is not None:
        bias = _as_bias(attn_mask, dtype, "scaled_dot_product_attention", allowed_when=True)
        try:
            np.broadcast_shapes(bias.shape, batch + (L, S))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(bias.shape)} does not "
                             f"broadcast to the scores' shape {batch + (L, S)}") from None
    keep = None
    if dropout_p > 0.0:
        keep = F.dropout_mask(batch + (L, S), dropout_p, dtype, query.xp, generator)
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(query, key, value, bias, keep, scale=scale, causal=is_causal)


# -- the key/value cache ---------------------------------------------------------------------
class _Entry:
    __slots__ = ("k", "v", "length", "static")

    def __init__(self, k, v, length, static):
        self.k, self.v, self.length, self.static = k, v, length, static


class KVCache:
    """The keys and values of the positions already decoded, so that each new token attends
    to the past without recomputing it: decoding n tokens costs O(n) projections, not O(n^2).

    One cache serves a whole model: each attention module files its entry under itself.
    Self-attention appends the new positions' keys and values (`update`); cross-attention
    keys/values come from the encoder's output, which does not change, so they are computed
    once and reused (`static`).

        cache = KVCache()
        logits = model(prompt, kv_cache=cache)      # fills the cache
        logits = model(next_token, kv_cache=cache)  # attends to prompt + next_token
    """

    def __init__(self):
        self._entries: dict = {}

    def update(self, module, k, v):
        """Append k, v (..., T_new, D) after the cached ones; return all of them."""
        e = self._entries.get(module)
        if is_grad_enabled() and (k.requires_grad or v.requires_grad):
            # differentiable path (rare: training through a cache): concatenate tensors
            from ..tensor import cat

            if e is not None:
                k, v = cat([e.k, k], dim=-2), cat([e.v, v], dim=-2)
            self._entries[module] = _Entry(k, v, k.shape[-2], False)
            return k, v
        # inference: write into a buffer that doubles when full (amortised O(1) per token)
        k_new, v_new = k.data, v.data
        n_new = k_new.shape[-2]
        if e is None or isinstance(e.k, Tensor):
            e = self._entries[module] = _Entry(None, None, 0, False)
        need = e.length + n_new
        if e.k is None or need > e.k.shape[-2]:
            cap = max(need, 2 * (e.k.shape[-2] if e.k is not None else 0), 16)
            xp = xp_of(k_new)
            kb = xp.empty(k_new.shape[:-2] + (cap, k_new.shape[-1]), dtype=k_new.dtype)
            vb = xp.empty(v_new.shape[:-2] + (cap, v_new.shape[-1]), dtype=v_new.dtype)
            if e.length:
                kb[..., :e.length, :] = e.k[..., :e.length, :]
                vb[..., :e.length, :] = e.v[..., :e.length, :]
            e.k, e.v = kb, vb
        e.k[..., e.length:need, :] = k_new
        e.v[..., e.length:need, :] = v_new
        e.length = need
        return const(e.k[..., :need, :]), const(e.v[..., :need, :])

    def get_static(self, module):
        """The stored (k, v) of a cross-attention module, or None on the first step."""
        e = self._entries.get(module)
        return (e.k, e.v) if e is not None and e.static else None

    def set_static(self, module, k, v):
        self._entries[module] = _Entry(k, v, k.shape[-2], True)
        return k, v

    def reorder(self, index):
        """Row i of every entry becomes old row index[i] (along the batch dim): beam search keeps
        the cache of the hypotheses it continues, in their new order."""
        for e in self._entries.values():  # Tensors or raw buffers: indexing reads the same on both
            e.k, e.v = e.k[index], e.v[index]
        return self

    @property
    def seq_len(self) -> int:
        """How many positions the self-attention entries hold (the next token's position)."""
        return next((e.length for e in self._entries.values() if not e.static), 0)

    def reset(self):
        self._entries.clear()

    def __len__(self):
        return self.seq_len

    def __repr__(self):
        return f"KVCache(modules={len(self._entries)}, seq_len={self.seq_len})"


# -- multi-head attention ----------------------------------------------------------------------
class MultiheadAttention(Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

    PyTorch's layout: `in_proj_weight` (3E, E) stacks W^Q, W^K, W^V (one row block per
    projection, heads side by side inside each), `in_proj_bias` (3E,), `out_proj` a Linear.
    With kdim/vdim != embed_dim the three projections are separate: `q_proj_weight`,
    `k_proj_weight`, `v_proj_weight`. Inputs are (L, N, E), or (N, L, E) with batch_first=True,
    or unbatched (L, E).

    forward returns (attn_output, attn_weights); the weights (N, L, S), or (N, H, L, S) with
    average_attn_weights=False, only when need_weights=True (the default, as in PyTorch; pass
    need_weights=False for the fast fused kernel). Bool masks are True where attending is NOT
    allowed; float masks are added to the scores.

    Beyond PyTorch: `kv_cache` (a KVCache) for incremental decoding; `static_kv=True` marks
    cross-attention, whose keys/values are computed once and then reused. is_causal=True
    without an attn_mask builds the causal mask itself (PyTorch asks for both).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not implemented")
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        from .. import creation

        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first

        def empty(*shape):
            return Parameter(creation.zeros(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        # PyTorch: Glorot-uniform projections, zero biases; out_proj keeps Linear's own init
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, batch_first={self.batch_first}"

    # -- projections ---------------------------------------------------------------------------
    def _weights(self):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b = self.in_proj_bias
        bq, bk, bv = (b[:E], b[E:2 * E], b[2 * E:]) if b is not None else (None, None, None)
        return (wq, bq), (wk, bk), (wv, bv)

    def _split_heads(self, x):
        N, T, _ = x.shape
        return x.reshape(N, T, self.num_heads, self.head_dim).transpose(1, 2)  # (N, H, T, D)

    def _project(self, query, key, value, self_attention, compute_kv):
        (wq, bq), (wk, bk), (wv, bv) = self._weights()
        if self_attention and self._qkv_same_embed_dim:
            # one matmul for all three: x @ [W_q; W_k; W_v]^T
            N, L, E = query.shape
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
            qkv = qkv.reshape(N, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        q = self._split_heads(F.linear(query, wq, bq))
        if not compute_kv:
            return q, None, None
        k = self._split_heads(F.linear(key, wk, bk))
        v = self._split_heads(F.linear(value, wv, bv))
        return q, k, v

    # -- forward -------------------------------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False, kv_cache=None, static_kv=False):
        who = "MultiheadAttention"
        self_attention = query is key and key is value
        unbatched = query.ndim == 2
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{who}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got "
                             f"shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = _unsqueeze(key_padding_mask, 0)
            batch_first = False
        else:
            batch_first = self.batch_first
        if not batch_first:  # work in (N, L, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, E = query.shape
        if E != self.embed_dim:
            raise ValueError(f"{who}: query has {E} features, but embed_dim is {self.embed_dim}")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{who}: key/value have {key.shape[-1]}/{value.shape[-1]} features, expected "
                             f"kdim={self.kdim}/vdim={self.vdim}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != N:
            raise ValueError(f"{who}: key {tuple(key.shape)} and value {tuple(value.shape)} must share batch "
                             f"and sequence sizes, and match the query's batch size {N}")

        cached = kv_cache.get_static(self) if (kv_cache is not None and static_kv) else None
        q, k, v = self._project(query, key, value, self_attention, compute_kv=cached is None)
        if cached is not None:
            k, v = cached
        elif kv_cache is not None:
            k, v = kv_cache.set_static(self, k, v) if static_kv else kv_cache.update(self, k, v)
        S = k.shape[-2]

        bias = self._merged_mask(attn_mask, key_padding_mask, is_causal and not static_kv, N, L, S, q.dtype, q.xp)
        p = self.dropout if self.training else 0.0
        keep = F.dropout_mask((N, self.num_heads, L, S), p, q.dtype, q.xp) if p > 0 else None
        scale = 1.0 / math.sqrt(self.head_dim)
        if need_weights:
            out, weights = _attention_weights_composite(q, k, v, bias, keep, scale)
        else:
            out, weights = ScaledDotProductAttention.apply(q, k, v, bias, keep, scale=scale), None
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, E))
        if not batch_first:
            out = out.transpose(0, 1)
        if unbatched:
            out = out.squeeze(1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights

    def _merged_mask(self, attn_mask, key_padding_mask, is_causal, N, L, S, dtype, xp):
        """attn_mask, key_padding_mask and causality as one additive bias broadcastable to (N, H, L, S)."""
        who = "MultiheadAttention"
        H = self.num_heads
        bias = None
        if attn_mask is not None:
            m = _as_bias(attn_mask, dtype, who, allowed_when=False)
            if m.shape == (L, S):
                pass
            elif m.ndim == 3 and m.shape == (N * H, L, S):
                m = m.reshape(N, H, L, S)
            elif m.ndim == 3 and N == 1 and m.shape == (H, L, S):
                m = m.reshape(1, H, L, S)
            else:
                raise ValueError(f"{who}: attn_mask must have shape (L, S) = {(L, S)} or (N*num_heads, L, S) = "
                                 f"{(N * H, L, S)}, got {tuple(m.shape)}")
            bias = m
        elif is_causal:
            bias = const(causal_bias(L, S, dtype, xp))
        if key_padding_mask is not None:
            kpm = _as_bias(key_padding_mask, dtype, who, allowed_when=False)
            if kpm.shape != (N, S):
                raise ValueError(f"{who}: key_padding_mask must have shape (N, S) = {(N, S)}, got {tuple(kpm.shape)}")
            bias = _add_bias(bias, kpm.reshape(N, 1, 1, S))
        return bias


def _unsqueeze(mask, dim):
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    return mask.unsqueeze(dim)


__all__ = ["scaled_dot_product_attention", "ScaledDotProductAttention", "MultiheadAttention", "KVCache",
           "causal_bias"]
