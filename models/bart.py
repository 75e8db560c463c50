"""BART: a denoising autoencoder for sequences (Lewis et al., 2019).

Corrupt a text, then train a Transformer encoder-decoder to write the original back:

    encoder:  x = LayerNorm(E[w] + P[i + 2])       bidirectional self-attention over the corrupted text
    decoder:  y = LayerNorm(E[w] + P[i + 2])       causal self-attention over the original so far,
                                                   plus cross-attention to the encoder's output
    logits  = y_L E^T + final_logits_bias          the output layer is the (shared) input embedding

Every sub-layer is post-LN, as in the original Transformer: x = LayerNorm(x + Dropout(f(x))),
and the feed-forward blocks use GELU. The position table has two extra rows at the front
(Hugging Face's `offset = 2`, a leftover of fairseq's padding convention): position i reads
row i + 2. The corruptions are BERT's token masking, token deletion and, best in the paper,
text infilling: spans with Poisson(3) lengths each replaced by ONE [MASK], so the model also
has to say how many tokens are missing (a 0-length span inserts a [MASK] where nothing was).

Names follow transformers' BartForConditionalGeneration (`model.encoder.layers.0.self_attn.q_proj`,
...), so `BART.from_pretrained(folder)` loads its safetensors checkpoints by name.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.inputs import token_ids
from minigrad.backend import to_numpy, xp_of
from minigrad.generation import force_token, sample_stream
from minigrad.nn.attention import KVCache, causal_bias

from . import _hf
from ._hf import padding_bias

IGNORE_INDEX = -100
POSITION_OFFSET = 2  # BartLearnedPositionalEmbedding: position i is row i + 2
FROM_CONFIG = object()  # generate(): "use the config's value" (None means "none")


@dataclass
class BartConfig:
    """transformers' BartConfig fields (defaults: facebook/bart-large)."""

    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    d_model: int = 1024
    encoder_layers: int = 12
    decoder_layers: int = 12
    encoder_attention_heads: int = 16
    decoder_attention_heads: int = 16
    encoder_ffn_dim: int = 4096
    decoder_ffn_dim: int = 4096
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = 2

    def __post_init__(self):
        for heads, name in ((self.encoder_attention_heads, "encoder"), (self.decoder_attention_heads, "decoder")):
            if self.d_model % heads:
                raise ValueError(f"BartConfig: d_model ({self.d_model}) must be a multiple of "
                                 f"{name}_attention_heads ({heads})")
        _hf.activation(self.activation_function, "BART: activation_function")

    @classmethod
    def from_dict(cls, config: dict) -> "BartConfig":
        if config.get("normalize_before") or config.get("add_final_layer_norm"):
            raise NotImplementedError("BartConfig: pre-LN variants (mBART's normalize_before / add_final_layer_norm) "
                                      "are not implemented; BART itself is post-LN")
        return cls(**_hf.pick(config, {f.name: f.default for f in fields(cls)}))

    def to_dict(self) -> dict:
        return asdict(self)


def shift_tokens_right(labels, pad_token_id: int, decoder_start_token_id: int):
    """Decoder inputs for teacher forcing: [start] + labels[:-1], with ignored labels (-100) read as
    padding (an array of either device, or anything numpy reads)."""
    labels = labels if xp_of(labels) is not np else np.asarray(labels)
    xp = xp_of(labels)
    out = xp.concatenate([xp.full((labels.shape[0], 1), decoder_start_token_id, dtype=labels.dtype),
                          labels[:, :-1]], axis=1)
    return xp.where(out == IGNORE_INDEX, pad_token_id, out)


# ---------------------------------------------------------------------- layers
class BartLearnedPositionalEmbedding(nn.Embedding):
    """A learned row per position, with two spare rows at the front: position i reads row i + 2."""

    def __init__(self, num_positions: int, embedding_dim: int):
        super().__init__(num_positions + POSITION_OFFSET, embedding_dim)

    def forward(self, seq_len: int, past_length: int = 0):
        last = past_length + seq_len + POSITION_OFFSET
        if last > self.num_embeddings:
            raise ValueError(f"BartLearnedPositionalEmbedding: position {past_length + seq_len - 1} is beyond "
                             f"max_position_embeddings={self.num_embeddings - POSITION_OFFSET}; shorten the input")
        positions = self.weight.xp.arange(past_length + POSITION_OFFSET, last, dtype=np.int64)  # made there
        return F.embedding(mg.as_tensor(positions), self.weight)


class BartAttention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (transformers' layout).

    Self-attention when key_value_states is None, cross-attention to key_value_states otherwise.
    With a KVCache, self-attention appends the new positions' keys/values to the cached ones,
    and cross-attention projects the encoder output once and reuses it."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _heads(self, x):
        B, T, _ = x.shape
        return x.reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, T, d)

    def forward(self, hidden_states, key_value_states=None, attention_bias=None, kv_cache=None):
        B, T, D = hidden_states.shape
        q = self._heads(self.q_proj(hidden_states))
        if key_value_states is None:  # self-attention
            k, v = self._heads(self.k_proj(hidden_states)), self._heads(self.v_proj(hidden_states))
            if kv_cache is not None:
                k, v = kv_cache.update(self, k, v)
        else:  # cross-attention: the encoder's output does not change while decoding
            cached = kv_cache.get_static(self) if kv_cache is not None else None
            if cached is None:
                k, v = self._heads(self.k_proj(key_value_states)), self._heads(self.v_proj(key_value_states))
                if kv_cache is not None:
                    kv_cache.set_static(self, k, v)
            else:
                k, v = cached
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_bias,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))


class BartEncoderLayer(nn.Module):
    """x = LN(x + Dropout(SelfAttn(x)));  x = LN(x + Dropout(fc2(GELU(fc1(x)))))"""

    def __init__(self, config: BartConfig):
        super().__init__()
        D = config.d_model
        self.self_attn = BartAttention(D, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, D)
        self.final_layer_norm = nn.LayerNorm(D)
        self.act = _hf.activation(config.activation_function, "BART: activation_function")
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def forward(self, x, attention_bias=None):
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, attention_bias=attention_bias)))
        h = self.fc2(self.activation_dropout(self.act(self.fc1(x))))
        return self.final_layer_norm(x + self.dropout(h))


class BartDecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder, feed-forward: each post-LN."""

    def __init__(self, config: BartConfig):
        super().__init__()
        D = config.d_model
        self.self_attn = BartAttention(D, config.decoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(D)
        self.encoder_attn = BartAttention(D, config.decoder_attention_heads, config.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, D)
        self.final_layer_norm = nn.LayerNorm(D)
        self.act = _hf.activation(config.activation_function, "BART: activation_function")
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def forward(self, y, encoder_hidden_states, self_bias=None, cross_bias=None, kv_cache=None):
        a = self.self_attn(y, attention_bias=self_bias, kv_cache=kv_cache)
        y = self.self_attn_layer_norm(y + self.dropout(a))
        c = self.encoder_attn(y, key_value_states=encoder_hidden_states, attention_bias=cross_bias, kv_cache=kv_cache)
        y = self.encoder_attn_layer_norm(y + self.dropout(c))
        h = self.fc2(self.activation_dropout(self.act(self.fc1(y))))
        return self.final_layer_norm(y + self.dropout(h))


class BartEncoder(nn.Module):
    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding):
        super().__init__()
        # the shared table belongs to BartModel (`model.shared`); keep a plain reference, not a sub-module
        object.__setattr__(self, "embed_tokens", embed_tokens)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_positions = BartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList([BartEncoderLayer(config) for _ in range(config.encoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids, attention_mask=None):
        """input_ids (and attention_mask): int tensors on the model's device (see BART.encode)."""
        x = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(input_ids.shape[1])
        x = self.dropout(self.layernorm_embedding(x))
        bias = padding_bias(attention_mask, x.dtype) if attention_mask is not None else None
        for layer in self.layers:
            x = layer(x, bias)
        return x


class BartDecoder(nn.Module):
    def __init__(self, config: BartConfig, embed_tokens: nn.Embedding):
        super().__init__()
        object.__setattr__(self, "embed_tokens", embed_tokens)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_positions = BartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList([BartDecoderLayer(config) for _ in range(config.decoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask=None,
                decoder_attention_mask=None, kv_cache=None):
        """decoder_input_ids and the masks: int tensors on the model's device (see BART.decode)."""
        past = kv_cache.seq_len if kv_cache is not None else 0
        B, T = decoder_input_ids.shape
        y = self.embed_tokens(decoder_input_ids) * self.embed_scale + self.embed_positions(T, past)
        y = self.dropout(self.layernorm_embedding(y))
        dtype = y.dtype
        # position t sees the cached positions and itself and before: (T, past + T), broadcast over batch/heads
        pad = padding_bias(decoder_attention_mask, dtype) if decoder_attention_mask is not None else None
        self_bias = None  # a single new position sees every cached one: nothing to mask
        if T > 1 or pad is not None:
            self_bias = mg.as_tensor(causal_bias(T, past + T, dtype, y.xp))
            if pad is not None:
                self_bias = self_bias + pad
        cross_bias = padding_bias(encoder_attention_mask, dtype) if encoder_attention_mask is not None else None
        for layer in self.layers:
            y = layer(y, encoder_hidden_states, self_bias, cross_bias, kv_cache)
        return y


class BartModel(nn.Module):
    def __init__(self, config: BartConfig):
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.encoder = BartEncoder(config, self.shared)
        self.decoder = BartDecoder(config, self.shared)


class BartForConditionalGeneration(nn.Module):
    """forward(input_ids, attention_mask, decoder_input_ids | labels) -> (logits (B, T, V), loss or None).

    With labels and no decoder_input_ids, the decoder reads the labels shifted right behind
    decoder_start_token_id (teacher forcing), as transformers does. `generate` decodes greedily
    with a key/value cache."""

    def __init__(self, config: BartConfig):
        super().__init__()
        self.config = config
        self.model = BartModel(config)
        self.register_buffer("final_logits_bias", mg.zeros(1, config.vocab_size))
        self._init_weights()

    def _init_weights(self):
        """transformers' init: N(0, init_std) for weights and embeddings, zero biases, zero padding row."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.normal_(module.weight, 0.0, std)
                init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                init.normal_(module.weight, 0.0, std)
                if module.padding_idx is not None:
                    with mg.no_grad():
                        module.weight.data[module.padding_idx] = 0

    # -- the two halves -------------------------------------------------------------------------
    def _ids(self, x, name):
        """Ids (checked against the vocabulary; masks only for their shape) on the model's device."""
        vocab = self.config.vocab_size if name.endswith("input_ids") else None
        return token_ids(x, type(self).__name__, name, vocab, self.model.shared.weight.device)

    def encode(self, input_ids, attention_mask=None):
        who = type(self).__name__
        input_ids = self._ids(input_ids, "input_ids")
        if attention_mask is not None:
            attention_mask = self._ids(attention_mask, "attention_mask")
            if attention_mask.shape != input_ids.shape:
                raise ValueError(f"{who}: attention_mask {tuple(attention_mask.shape)} must match input_ids "
                                 f"{tuple(input_ids.shape)}")
        return self.model.encoder(input_ids, attention_mask)

    def decode(self, decoder_input_ids, encoder_hidden_states, attention_mask=None, decoder_attention_mask=None,
               kv_cache=None):
        who = type(self).__name__
        decoder_input_ids = self._ids(decoder_input_ids, "decoder_input_ids")
        if decoder_input_ids.shape[0] != encoder_hidden_states.shape[0]:
            raise ValueError(f"{who}: decoder_input_ids has batch {decoder_input_ids.shape[0]} but the encoder "
                             f"output has batch {encoder_hidden_states.shape[0]}")
        if attention_mask is not None:
            attention_mask = self._ids(attention_mask, "attention_mask")
        if decoder_attention_mask is not None:
            decoder_attention_mask = self._ids(decoder_attention_mask, "decoder_attention_mask")
        y = self.model.decoder(decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                               kv_cache)
        return F.linear(y, self.model.shared.weight) + self.final_logits_bias  # tied output layer

    def forward(self, input_ids, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                labels=None, encoder_outputs=None):
        who = type(self).__name__
        if labels is not None:
            labels = self._ids(labels, "labels")
            if decoder_input_ids is None:
                decoder_input_ids = mg.as_tensor(shift_tokens_right(labels.data, self.config.pad_token_id,
                                                             self.config.decoder_start_token_id))
        if decoder_input_ids is None:
            raise ValueError(f"{who}: pass decoder_input_ids, or labels to derive them from")
        if attention_mask is not None:  # read by the encoder and the decoder: it crosses once
            attention_mask = self._ids(attention_mask, "attention_mask")
        h = encoder_outputs if encoder_outputs is not None else self.encode(input_ids, attention_mask)
        logits = self.decode(decoder_input_ids, h, attention_mask, decoder_attention_mask)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        return logits, loss

    # -- greedy decoding ---------------------------------------------------------------------------
    @mg.no_grad()
    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20, use_cache: bool = True,
                 decoder_start_token_id=None, eos_token_id=None, pad_token_id=None,
                 forced_bos_token_id=FROM_CONFIG, forced_eos_token_id=FROM_CONFIG, max_length=None) -> np.ndarray:
        """Greedy decoding, as transformers' generate(do_sample=False, num_beams=1).

        Returns (B, 1 + n) int64 ids starting with decoder_start_token_id. A sequence that has
        produced eos is padded afterwards; decoding stops when all have, or after
        max_new_tokens. forced_bos_token_id forces the first token, forced_eos_token_id the
        last one allowed (both default to the config's, as transformers reads them).
        """
        c = self.config
        start = c.decoder_start_token_id if decoder_start_token_id is None else decoder_start_token_id
        eos = c.eos_token_id if eos_token_id is None else eos_token_id
        pad = c.pad_token_id if pad_token_id is None else pad_token_id
        forced_bos = c.forced_bos_token_id if forced_bos_token_id is FROM_CONFIG else forced_bos_token_id
        forced_eos = c.forced_eos_token_id if forced_eos_token_id is FROM_CONFIG else forced_eos_token_id
        if max_length is not None:  # transformers' total decoder length, start token included
            max_new_tokens = max_length - 1
        was = self.training
        self.eval()
        input_ids = self._ids(input_ids, "input_ids")
        if attention_mask is not None:
            attention_mask = self._ids(attention_mask, "attention_mask")
        h = self.encode(input_ids, attention_mask)
        B, xp = input_ids.shape[0], input_ids.xp
        # the ids stay on the model's device; the host reads one flag a step and the ids at the end
        cache = KVCache() if use_cache else None

        def next_logits(tokens):
            step = tokens.shape[1] - 1
            logits = self.decode(mg.as_tensor(tokens[:, -1:] if use_cache else tokens), h, attention_mask,
                                 kv_cache=cache).data[:, -1, :]
            if forced_bos is not None and step == 0:  # transformers' ForcedBOS/EOSTokenLogitsProcessor
                return force_token(logits, forced_bos)
            if forced_eos is not None and step == max_new_tokens - 1:
                return force_token(logits, forced_eos)
            return logits

        out = xp.full((B, 1), start, dtype=np.int64)
        columns = list(sample_stream(next_logits, out, max_new_tokens, temperature=0.0, eos_token_id=eos,
                                     pad_token_id=pad))
        self.train(was)
        return to_numpy(xp.concatenate([out] + [c[:, None] for c in columns], axis=1))

    # -- checkpoints -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder, **overrides):
        """Load a transformers BART folder (config.json + model.safetensors), in eval mode.

        The tied copies some checkpoints also store (encoder/decoder embed_tokens, lm_head) must
        equal model.shared; generation_config.json, when present, supplies the forced bos/eos."""
        who = f"{cls.__name__}.from_pretrained"
        raw = _hf.read_config(folder, who)
        gen_path = Path(folder) / "generation_config.json"
        if gen_path.is_file():
            gen = json.loads(gen_path.read_text(encoding="utf-8"))
            raw = {**raw, **{k: gen[k] for k in ("forced_bos_token_id", "forced_eos_token_id",
                                                   "decoder_start_token_id") if k in gen}}
        model = cls(BartConfig.from_dict({**raw, **overrides}))
        state = _hf.read_weights(folder, who)
        shared = state.get("model.shared.weight")
        tied = ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight")
        if shared is None:  # some exports keep only a tied copy
            shared = next((state[k] for k in tied if k in state), None)
            if shared is not None:
                state["model.shared.weight"] = shared
        for name in tied:
            if name in state:
                if not np.allclose(state[name], shared):
                    raise ValueError(f"{who}: {name} differs from model.shared.weight; this model ties the input "
                                     "and output embeddings (as BART does) and cannot hold untied ones")
                del state[name]
        if "final_logits_bias" not in state:
            state["final_logits_bias"] = np.zeros((1, model.config.vocab_size), dtype=np.float32)
        model.load_state_dict(state)
        return model.eval()

    from_hf = from_pretrained


BART = BartForConditionalGeneration


# ---------------------------------------------------------------------- noising
def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _as_ids(ids, who):
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{who}: expects one sequence of integer ids (1-D), got shape {arr.shape} and dtype "
                         f"{arr.dtype}; apply it to each sequence of a batch")
    return arr.astype(np.int64, copy=False)


def token_masking(ids, mask_id: int, p: float = 0.15, rng=None) -> np.ndarray:
    """Each token becomes mask_id with probability p (BERT-style, without the 10/10 split)."""
    ids = _as_ids(ids, "token_masking")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"token_masking: p must be in [0, 1], got {p}")
    return np.where(_rng(rng).random(len(ids)) < p, mask_id, ids)


def token_deletion(ids, p: float = 0.15, rng=None) -> np.ndarray:
    """Each token is deleted with probability p: the model must find where text is missing."""
    ids = _as_ids(ids, "token_deletion")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"token_deletion: p must be in [0, 1], got {p}")
    return ids[_rng(rng).random(len(ids)) >= p]


def text_infilling(ids, mask_id: int, mask_ratio: float = 0.3, poisson_lambda: float = 3.0, rng=None,
                   return_spans: bool = False):
    """Replace spans of Poisson(lambda) length, covering round(mask_ratio * n) tokens, by one mask_id each.

    Span lengths are drawn until they cover the budget (the last one is cut to fit). A span of
    length 0 inserts a mask_id between two tokens. Spans are placed at distinct, random gaps
    between the kept tokens, so no two spans touch. With return_spans, also returns
    [(start, length)] in the original sequence, in order: replacing the i-th mask_id of the
    output by ids[start:start + length] gives the input back.
    """
    ids = _as_ids(ids, "text_infilling")
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f"text_infilling: mask_ratio must be in [0, 1], got {mask_ratio}")
    if poisson_lambda < 0:
        raise ValueError(f"text_infilling: poisson_lambda must be >= 0, got {poisson_lambda}")
    rng = _rng(rng)
    n = len(ids)
    budget = int(round(mask_ratio * n))
    lengths = []
    while sum(lengths) < budget:
        lengths.append(int(rng.poisson(poisson_lambda)))
        if poisson_lambda == 0:  # every span would be empty: take the budget as one span
            lengths[-1] = budget
    if lengths:
        lengths[-1] -= sum(lengths) - budget
    n_keep = n - budget
    gaps = n_keep + 1
    if len(lengths) > gaps:  # more spans than places to put them: merge the surplus into the last
        lengths = lengths[:gaps - 1] + [sum(lengths[gaps - 1:])]
    chosen = dict(zip(sorted(rng.choice(gaps, size=len(lengths), replace=False).tolist()), lengths))
    out, spans, pos = [], [], 0
    for gap in range(gaps):
        if gap in chosen:
            out.append(mask_id)
            spans.append((pos, chosen[gap]))
            pos += chosen[gap]
        if gap < n_keep:
            out.append(int(ids[pos]))
            pos += 1
    out = np.asarray(out, dtype=np.int64)
    return (out, spans) if return_spans else out


