"""nn.functional: the stateless forms of the layers and losses, named as in PyTorch."""
from __future__ import annotations

import numpy as np

import math

from ..ops import fused
from ..ops.attention import ScaledDotProductAttention
from ..ops.elementwise import Mul
from ..creation import as_tensor
from ..backend import check_index_range, xp_of
from ..random import get_rng
from ..tensor import Tensor, _as_index, where
from .inputs import mask_to_bias


def linear(input, weight, bias=None):
    """y = x @ W^T + b   (W has shape (out_features, in_features), as in PyTorch)"""
    return fused.Linear.apply(input, weight, bias)


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` looked up by integer ids: weight[input]."""
    idx = _as_index(input, "embedding")
    return fused.Embedding.apply(weight, idx, padding_idx=padding_idx)


def relu(input):
    return input.relu()


def gelu(input, approximate="none"):
    return input.gelu(approximate)


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def silu(input):
    return input * input.sigmoid()


def softmax(input, dim=-1):
    return input.softmax(dim)


def log_softmax(input, dim=-1):
    return input.log_softmax(dim)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return fused.LayerNorm.apply(input, tuple(normalized_shape), weight, bias, eps=eps)


def dropout(input, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    return Mul.apply(input, as_tensor(dropout_mask(input.shape, p, input.dtype, input.xp, generator)))


def dropout_mask(shape, p, dtype, xp, generator=None):
    """Inverted dropout's multiplier: 1/(1-p) where an element is kept (probability 1 - p), 0
    where it is dropped; drawn by the generator of the array module xp, so on a GPU the mask is
    made on the device and never crosses the bus."""
    keep = get_rng(generator, xp).random(shape, dtype=np.float32) >= p
    return (keep / (1.0 - p)).astype(dtype)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from logits (class dim 1), one fused node; see ops.fused.CrossEntropy."""
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target))
    return fused.CrossEntropy.apply(
        input, target, weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing
    )


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-input[i, target[i]] averaged over the rows that are not ignored (input holds log-probabilities)."""
    xp = input.xp
    t = xp.asarray(_as_index(target, "nll_loss")).reshape(-1)  # host targets go to the input's device
    C = input.shape[1] if input.ndim > 1 else input.shape[0]
    x = input.reshape(1, C) if input.ndim == 1 else input.movedim(1, -1).reshape(-1, C)
    valid = t != ignore_index
    t_safe = xp.where(valid, t, 0)
    check_index_range(t_safe, C, lambda bad: (
        f"nll_loss: target {bad} is out of range for {C} classes (valid: 0 to {C - 1}, or "
        f"ignore_index={ignore_index}); negative targets are not wrapped around"))
    w = (weight.data[t_safe] if weight is not None else xp.ones(t.shape)) * valid
    w = as_tensor(w.astype(input.dtype))
    picked = x.gather(1, as_tensor(t_safe.reshape(-1, 1))).reshape(-1)
    rows = -picked * w
    if reduction == "sum":
        return rows.sum()
    if reduction == "mean":
        return rows.sum() / w.sum()
    return rows.reshape(tuple(target.shape))


def mse_loss(input, target, reduction="mean"):
    d = input - target
    sq = d * d
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """-[p y log s(x) + (1 - y) log(1 - s(x))], in the stable form
    (1 - y) x + (1 + (p - 1) y) (log(1 + exp(-|x|)) + max(-x, 0))   with p = pos_weight."""
    softplus_neg = ((-input.abs()).exp() + 1).log() + (-input).relu()  # log(1 + exp(-x))
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def one_hot(tensor, num_classes=-1):
    """Integer ids -> int64 one-hot rows (no gradient: it is a lookup key, not a value)."""
    idx = _as_index(tensor, "one_hot")
    xp = xp_of(idx)
    if num_classes < 0:  # the number of classes is a shape: it must be read on the host
        num_classes = int(idx.max()) + 1 if idx.size else 0
    check_index_range(idx, num_classes, lambda bad: (
        f"one_hot: class value {bad} does not fit num_classes={num_classes}; class values must be "
        "non-negative" if bad < 0 else f"one_hot: class value {bad} does not fit num_classes={num_classes}"),
        ValueError)
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, False, None)


def pad(input, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    return input.pad(pad, value)


# -- attention: the checks and masks around the fused op (ops/attention.py) ------------------------
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
        keep = dropout_mask(batch + (L, S), dropout_p, dtype, query.xp, generator)
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(query, key, value, bias, keep, scale=scale, causal=is_causal)


__all__ = [
    "scaled_dot_product_attention", "linear", "embedding", "relu", "gelu", "tanh", "sigmoid", "silu", "softmax", "log_softmax",
    "layer_norm", "dropout", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "one_hot", "pad", "where",
]

# the layers' functional forms live beside their modules (conv.py, pooling.py, norm.py, activation.py)
from .activation import leaky_relu  # noqa: E402
from .conv import conv1d, conv2d, fold, unfold  # noqa: E402
from .norm import batch_norm, rms_norm  # noqa: E402
from .pooling import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d  # noqa: E402

__all__ += ["leaky_relu", "conv1d", "conv2d", "fold", "unfold", "batch_norm", "rms_norm", "avg_pool1d",
            "avg_pool2d", "max_pool1d", "max_pool2d"]
