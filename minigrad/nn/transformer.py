"""The Transformer (Vaswani et al., 2017) from its parts, with PyTorch's module and parameter
names, so that a state_dict from torch.nn.Transformer* loads here unchanged.

    encoder layer:  x = x + SelfAttn(x);          x = x + FFN(x)
    decoder layer:  x = x + SelfAttn(x, causal);  x = x + CrossAttn(x, memory);  x = x + FFN(x)
    FFN(x) = linear2(dropout(activation(linear1(x))))

Post-norm (the paper, PyTorch's default) puts LayerNorm after each residual sum:
x = norm(x + sublayer(x)). Pre-norm (norm_first=True, as GPT-2) puts it inside the branch:
x = x + sublayer(norm(x)), which keeps a clean residual path and trains deep stacks without
warm-up tricks.

Attention is blind to order, so positions are added to the token embeddings: fixed
sinusoids (the paper) or a learned table (GPT, BERT).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import creation
from ..creation import as_tensor
from ..backend import check_index_range
from ..tensor import Tensor
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .layers import Dropout, Embedding, LayerNorm, Linear
from .module import Module, ModuleList


# -- positions --------------------------------------------------------------------------------
def sinusoidal_positions(num_positions, dim, base=10000.0, dtype=np.float32):
    """PE[pos, 2i] = sin(pos / base^(2i/dim)),  PE[pos, 2i+1] = cos(pos / base^(2i/dim)).

    Each pair of columns is a clock of its own frequency; PE[pos + k] is a fixed rotation of
    PE[pos], so a relative offset is a linear function of the encoding.
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    pe = np.zeros((num_positions, dim), dtype=np.float64)
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq[: dim // 2])
    return pe.astype(dtype)


def _positions(who, num_positions, seq_len_or_positions, offset, xp=np):
    """An int seq_len -> positions offset..offset+seq_len-1 (on the table's device); an index
    tensor or array passes through (moved to the table's device). Out-of-range positions are an
    error: for a length, known without looking at an array; for device positions, checked on the
    device (backend.check_index_range), so that no forward waits for the GPU."""

    def message(bad):
        return (f"{who}: position {bad} is outside the table of num_positions={num_positions} "
                "(the longest sequence the model was built for); crop the input or build a larger table")

    if isinstance(seq_len_or_positions, (int, np.integer)):
        first, last = int(offset), int(offset) + int(seq_len_or_positions) - 1
        if last >= first and (first < 0 or last >= num_positions):
            raise IndexError(message(last if last >= num_positions else first))
        return xp.arange(first, last + 1, dtype=np.int64)
    pos = seq_len_or_positions.data if isinstance(seq_len_or_positions, Tensor) else np.asarray(seq_len_or_positions)
    if pos.dtype.kind not in "iu":
        raise TypeError(f"{who}: positions must be integers, got dtype {pos.dtype}")
    check_index_range(pos, num_positions, message)
    return xp.asarray(pos)


class SinusoidalPositionalEmbedding(Module):
    """The paper's fixed encoding: `pe(T)` -> (T, D) for positions 0..T-1 (`offset=` to start later).

    A non-persistent buffer: nothing to learn, nothing stored in a checkpoint."""

    def __init__(self, num_positions, embedding_dim, base=10000.0):
        super().__init__()
        self.num_positions, self.embedding_dim = num_positions, embedding_dim
        self.register_buffer("weight", Tensor(sinusoidal_positions(num_positions, embedding_dim, base)),
                             persistent=False)

    def forward(self, seq_len_or_positions, offset=0):
        pos = _positions(type(self).__name__, self.num_positions, seq_len_or_positions, offset, self.weight.xp)
        return as_tensor(self.weight.data[pos])

    def extra_repr(self):
        return f"{self.num_positions}, {self.embedding_dim}"


class LearnedPositionalEmbedding(Embedding):
    """A learned row per position (GPT, BERT): `pe(T)` -> (T, D) for positions 0..T-1."""

    def forward(self, seq_len_or_positions, offset=0):
        pos = _positions(type(self).__name__, self.num_embeddings, seq_len_or_positions, offset, self.weight.xp)
        return F.embedding(as_tensor(pos), self.weight)


# -- layers -----------------------------------------------------------------------------------
def _activation(activation, who):
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"{who}: activation should be 'relu', 'gelu' or a callable, got {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each in a residual branch (PyTorch's names)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, type(self).__name__)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Causal self-attention, attention to the encoder's output (memory), a feed-forward block.

    `kv_cache` (a KVCache) decodes incrementally: pass only the new target positions; their
    self-attention sees the cached ones plus themselves (causally, whatever tgt_mask says),
    and the memory's keys/values are projected once and reused."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, type(self).__name__)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, kv_cache=None):
        if kv_cache is not None:  # the new positions after the cached ones: causal by construction
            tgt_mask, tgt_is_causal = None, True
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal, kv_cache)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, kv_cache)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, kv_cache))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, kv_cache))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, kv_cache):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal, kv_cache=kv_cache)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, kv_cache):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, kv_cache=kv_cache, static_kv=True)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


# -- stacks -----------------------------------------------------------------------------------
def _clones(layer, n):
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """num_layers copies of an encoder layer (independent weights), then an optional final norm."""

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """num_layers copies of a decoder layer, then an optional final norm."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, kv_cache=None):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal, kv_cache=kv_cache)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder of "Attention Is All You Need", as torch.nn.Transformer: token
    embeddings and positions are the caller's job; inputs are (S, N, E) and (T, N, E), or
    batch first. The encoder and decoder end with a LayerNorm, and every weight matrix
    starts Glorot-uniform (PyTorch's _reset_parameters)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise ValueError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must have the same "
                             f"batch size (dim {batch_dim}, batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: src and tgt need d_model={self.d_model} features, got "
                             f"{src.shape[-1]} and {tgt.shape[-1]}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (a position sees no future)."""
        return creation.full((sz, sz), -math.inf, dtype=np.dtype(dtype or np.float32), device=device).triu(1)


__all__ = [
    "sinusoidal_positions", "SinusoidalPositionalEmbedding", "LearnedPositionalEmbedding",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer",
]
