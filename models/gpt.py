"""GPT: a decoder-only Transformer language model, in the shape of nanoGPT (and of GPT-2).

    x_0 = W_te[idx] + W_pe[0..T-1]                   token + learned position embeddings
    x   = x + attn(ln_1(x))                          causal self-attention, pre-LayerNorm
    x   = x + mlp(ln_2(x))                           mlp(x) = c_proj(gelu(c_fc(x))), 4x wide
    logits = ln_f(x) @ W_te^T                        the output head shares the embedding

Parameter names follow nanoGPT / Hugging Face GPT-2 (transformer.wte, transformer.h.0.attn.c_attn,
...), so `GPT.from_hf` reads a GPT-2 checkpoint folder directly. GPT-2 stores its projections
as `Conv1D` with weights (in, out), the transpose of a Linear's; from_hf transposes them.

    model = GPT(GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128))
    logits, loss = model(idx, targets)            # (B, T, V), scalar
    logits, _ = model(idx)                        # (B, 1, V): only the last position
    out = model.generate(idx, 100, temperature=0.8, top_k=40)

`minigrad train gpt --size small` (tutorials/recipes/char_lm.py) is nanoGPT's CPU recipe on tiny Shakespeare.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import io as mgio
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn.attention import KVCache, causal_bias
from minigrad.nn.inputs import token_ids
from minigrad.optim import AdamW
from minigrad.backend import to_numpy, xp_of
from minigrad.generation import (apply_repetition_penalty, beam_search, call_streamer, check_sampling_args,
                                 log_softmax, sample_stream)
from minigrad.random import get_rng


# -- configuration ---------------------------------------------------------------------------------
@dataclass
class GPTConfig:
    block_size: int = 1024        # the longest context
    vocab_size: int = 50304       # GPT-2's 50257 rounded up to a multiple of 64
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True             # biases in the Linears and LayerNorms (GPT-2: True)
    activation: str = "gelu"      # "gelu" (exact, nanoGPT) or "gelu_tanh" (GPT-2's approximation)
    layer_norm_eps: float = 1e-5
    n_inner: int | None = None    # MLP width; None means 4 * n_embd
    tie_word_embeddings: bool = True

    def __post_init__(self):
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GPTConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.activation not in ("gelu", "gelu_tanh"):
            raise ValueError(f"GPTConfig: activation must be 'gelu' or 'gelu_tanh', got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")


# -- the blocks --------------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d) + causal mask) V over n_head heads; Q, K, V from one matmul (c_attn)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        C = config.n_embd
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, C, config.dropout
        self.record_weights = False  # GPT.attention_maps turns this on to keep the softmax weights
        self.last_weights = None

    def forward(self, x, kv_cache=None):
        B, T, C = x.shape
        H = self.n_head
        # (B, T, 3C) -> (3, B, H, T, C/H): the three projections, heads split out
        qkv = self.c_attn(x).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        mask, causal = None, True
        if kv_cache is not None:
            k, v = kv_cache.update(self, k, v)
            S = k.shape[-2]
            if S > T:  # new queries sit after S - T cached positions
                mask, causal = mg.as_tensor(causal_bias(T, S, q.dtype, q.xp)), False
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and T > 1, dropout_p=p)
        if self.record_weights:  # the fused kernel keeps its weights to itself: recompute them to look
            bias = mask.data if mask is not None else causal_bias(T, k.shape[-2], q.dtype, q.xp)
            s = (q.data @ k.data.swapaxes(-1, -2)) / math.sqrt(C // H) + bias
            w = q.xp.exp(s - s.max(-1, keepdims=True))
            self.last_weights = to_numpy(w / w.sum(-1, keepdims=True))  # to look at: on the host
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, inner, bias=config.bias)
        self.c_proj = nn.Linear(inner, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.approximate = "tanh" if config.activation == "gelu_tanh" else "none"

    def forward(self, x):
        return self.dropout(self.c_proj(self.c_fc(x).gelu(self.approximate)))


class Block(nn.Module):
    """x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))   (pre-LN, GPT-2)"""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None):
        x = x + self.attn(self.ln_1(x), kv_cache)
        return x + self.mlp(self.ln_2(x))


# -- the model -----------------------------------------------------------------------------------------
class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        C = config.n_embd
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, C),
            wpe=nn.Embedding(config.block_size, C),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(C, eps=config.layer_norm_eps, bias=config.bias),
        ))
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            # one matrix both reads tokens in and scores them out (Press & Wolf, 2017)
            self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2: scale the init of the projections that write into the residual stream by
        # 1/sqrt(2 n_layer), so the stream's variance does not grow with depth
        std = 0.02 / math.sqrt(2 * config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, std)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def get_num_params(self, non_embedding=True):
        """Parameters, counting a tied matrix once; by default without the position table
        (nanoGPT's convention: the token table counts, because it is also the output head)."""
        n = self.num_parameters()
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    # -- forward ---------------------------------------------------------------------------------------
    def _check_idx(self, idx, offset):
        """idx as a tensor, checked: 2-D integers that fit the block, ids inside the vocabulary.
        Ids on the host (a list, an array, a CPU tensor) are checked there, before they cross to
        the device; ids already on a GPU are checked on it without a sync (nn.inputs.token_ids)."""
        if not isinstance(idx, mg.Tensor):
            idx = mg.tensor(np.asarray(idx))
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"GPT.forward: idx must be a 2-D integer tensor (batch, time), got shape "
                             f"{tuple(idx.shape)} and dtype {idx.dtype}")
        idx = token_ids(idx, "GPT.forward", "idx", self.config.vocab_size)
        T, block = idx.shape[1], self.config.block_size
        if offset + T > block:
            raise ValueError(f"GPT.forward: cannot forward a sequence of length {offset + T}"
                             f"{f' ({offset} cached + {T} new)' if offset else ''}: block_size is only {block}. "
                             f"Crop the context to its last {block} tokens (generate() does this)")
        return idx

    def hidden_states(self, idx, kv_cache=None):
        """The last hidden states ln_f(x) (B, T, C), what the LM head reads (a reward model or a
        value head reads them too). With a `kv_cache`, idx holds only the new tokens."""
        offset = kv_cache.seq_len if kv_cache is not None else 0
        idx = self._check_idx(idx, offset).to(self.lm_head.weight.device)
        T = idx.shape[1]
        pos = self.lm_head.weight.xp.arange(offset, offset + T, dtype=np.int64)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(mg.as_tensor(pos)))
        for block in self.transformer.h:
            x = block(x, kv_cache)
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None, kv_cache=None):
        """(logits, loss): logits (B, T, V) and the mean cross-entropy with `targets` (B, T) when
        given (positions with target -1 are ignored, as nanoGPT); without targets, only the last
        position's logits (B, 1, V) and loss None. With a `kv_cache`, idx holds only the new tokens."""
        x = self.hidden_states(idx, kv_cache)
        B, T = x.shape[:2]
        if targets is None:
            return self.lm_head(x[:, -1:, :]), None  # inference: the next token is all we need
        if not isinstance(targets, mg.Tensor):
            targets = mg.tensor(np.asarray(targets), device=self.lm_head.weight.device)
        if tuple(targets.shape) != (B, T):
            raise ValueError(f"GPT.forward: targets must have idx's shape {(B, T)}, got {tuple(targets.shape)}")
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @mg.no_grad()
    def attention_maps(self, idx):
        """The attention weights of every layer for idx (B, T): a list of (B, n_head, T, T) numpy
        arrays, row t = how much position t reads from each earlier position."""
        blocks = [b.attn for b in self.transformer.h]
        for a in blocks:
            a.record_weights = True
        try:
            self(idx)
            return [a.last_weights for a in blocks]
        finally:
            for a in blocks:
                a.record_weights, a.last_weights = False, None

    # -- training -----------------------------------------------------------------------------------------
    def configure_optimizers(self, weight_decay, learning_rate, betas=(0.9, 0.95), eps=1e-8):
        """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only; biases and
        LayerNorm gains are not decayed (nanoGPT)."""
        decay = [p for p in self.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in self.parameters() if p.requires_grad and p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return AdamW(groups, lr=learning_rate, betas=betas, eps=eps)

    # -- generation -----------------------------------------------------------------------------------------
    @mg.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, use_cache=True,
                 generator=None, repetition_penalty=None, eos_token_id=None, pad_token_id=None, num_beams=1,
                 length_penalty=1.0, streamer=None, stream=False):
        """Extend idx (B, T) by up to max_new_tokens tokens (minigrad.generation does the choosing).

        Sampling (num_beams=1): each token is drawn from softmax(logits / temperature) restricted to
        the top_k most likely tokens and/or the smallest set with probability >= top_p, after the
        repetition_penalty (transformers'); temperature=0 picks the most likely token (greedy).
        With eos_token_id a row that wrote it gets pad_token_id (default: eos) afterwards, and
        generation stops once every row has. stream=True returns a generator of each new token
        column (B,) as it is drawn instead; `streamer` (a callable, or an object with put/end as
        transformers' streamers) receives each column too.

        num_beams > 1: beam search (minigrad.generation.beam_search) with length_penalty and
        eos_token_id as transformers' (early_stopping=True); returns the best sequence of each row.

        With use_cache (the default) each step feeds only the newest token and reuses the keys and
        values of the earlier ones (KVCache; beam search reorders it by beam). Once the sequence
        outgrows block_size, every step re-reads the last block_size tokens, exactly as the
        uncached path does, so both paths give the same tokens."""
        if max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        check_sampling_args("GPT.generate", temperature, top_k, top_p, repetition_penalty)
        if num_beams > 1 and (stream or streamer is not None):
            raise ValueError("GPT.generate: streaming needs num_beams=1 (a beam's tokens may still be "
                             "replaced by another beam's)")
        block = self.config.block_size
        ids = idx if isinstance(idx, mg.Tensor) else mg.tensor(np.asarray(idx, dtype=np.int64))
        self._check_idx(ids[:, -block:], 0)  # host ids are checked before they cross to the device
        # the tokens stay on the model's device: each step feeds them back from there, samples
        # there (the device's generator) and appends there; the ids reach the host at the end
        prompt = ids.long().to(self.lm_head.weight.device).data
        if num_beams > 1:
            return mg.as_tensor(self._beam_search(prompt, max_new_tokens, num_beams, use_cache, eos_token_id,
                                           pad_token_id, length_penalty, repetition_penalty))
        tokens = sample_stream(self._next_logits(use_cache)[0], prompt, max_new_tokens, temperature=temperature,
                               top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
                               eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                               rng=get_rng(generator, xp_of(prompt)))
        tokens = self._in_eval_mode(tokens)
        if stream:
            return (mg.as_tensor(t) for t in tokens)
        columns = [prompt]
        for t in tokens:
            columns.append(t[:, None])
            if streamer is not None:
                call_streamer(streamer, mg.as_tensor(t))
        if streamer is not None and hasattr(streamer, "end"):
            streamer.end()
        return mg.as_tensor(xp_of(prompt).concatenate(columns, axis=1))

    def _in_eval_mode(self, steps):
        """Run a decoding generator with dropout off, restoring the mode when it ends or is dropped."""
        was_training = self.training
        self.eval()
        try:
            with mg.no_grad():
                yield from steps
        finally:
            self.train(was_training)

    def _next_logits(self, use_cache):
        """(next_logits, cache): tokens (B, T) -> the next token's logits (B, V); with the cache, only
        the tokens it has not seen go in (the whole prompt first, then one a step); past
        block_size, the last block."""
        block, cache = self.config.block_size, KVCache() if use_cache else None

        def next_logits(tokens):
            if cache is not None and tokens.shape[1] <= block:
                logits, _ = self(mg.as_tensor(tokens[:, cache.seq_len:]), kv_cache=cache)
            else:
                logits, _ = self(mg.as_tensor(tokens[:, -block:]))
            return logits.data[:, -1, :]
        return next_logits, cache

    def _beam_search(self, prompt, max_new_tokens, num_beams, use_cache, eos_token_id, pad_token_id,
                     length_penalty, repetition_penalty):
        xp, (B, K) = xp_of(prompt), (prompt.shape[0], num_beams)
        beams_prompt = xp.repeat(prompt, K, axis=0)  # row b * K + k is beam k of batch row b
        next_logits, cache = self._next_logits(use_cache)  # beam search reorders the cache by beam

        def step(new_tokens, cache):
            tokens = xp.concatenate([beams_prompt, new_tokens], axis=1)
            logits = xp.asarray(next_logits(tokens), dtype=np.float64)
            if repetition_penalty is not None:
                logits = apply_repetition_penalty(logits, tokens, repetition_penalty)
            return log_softmax(logits), cache

        was_training = self.training
        self.eval()
        try:
            sequences, _ = beam_search(step, cache, batch_size=B, num_beams=K, max_new_tokens=max_new_tokens, xp=xp,
                                       eos_token_id=eos_token_id, length_penalty=length_penalty,
                                       pad_token_id=next((t for t in (pad_token_id, eos_token_id) if t is not None), 0))
        finally:
            self.train(was_training)
        return xp.concatenate([prompt, sequences], axis=1)

    # -- Hugging Face checkpoints -----------------------------------------------------------------------------
    @classmethod
    def from_hf(cls, path):
        """A GPT-2 checkpoint folder (config.json + model.safetensors, as save_pretrained writes it)."""
        folder = Path(path)
        config_file, weights_file = folder / "config.json", folder / "model.safetensors"
        for f in (config_file, weights_file):
            if not f.is_file():
                raise FileNotFoundError(f"GPT.from_hf: {str(f)!r} not found; expected a Hugging Face GPT-2 folder "
                                        "with config.json and model.safetensors (save_pretrained(..., "
                                        "safe_serialization=True) writes one)")
        hf = json.loads(config_file.read_text())
        config = gpt_config_from_hf(hf)
        model = cls(config)
        model.load_state_dict(hf_state_dict_to_gpt(mgio.load(weights_file), config))
        return model.eval()


# -- Hugging Face GPT-2 -> this file's names -------------------------------------------------------------
_HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                   "gelu": "gelu"}
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt_config_from_hf(hf: dict) -> GPTConfig:
    """GPTConfig from a GPT-2 config.json dict; options this model lacks are refused clearly."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"GPT.from_hf: expected a GPT-2 checkpoint (model_type 'gpt2'), got {hf.get('model_type')!r}")
    act = hf.get("activation_function", "gelu_new")
    if act not in _HF_ACTIVATIONS:
        raise NotImplementedError(f"GPT.from_hf: activation_function {act!r} is not supported "
                                  f"(supported: {sorted(_HF_ACTIVATIONS)})")
    for flag, ok in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                     ("add_cross_attention", False)):
        if hf.get(flag, ok) != ok:
            raise NotImplementedError(f"GPT.from_hf: {flag}={hf[flag]} is not supported (only {ok})")
    return GPTConfig(
        block_size=hf.get("n_positions", 1024), vocab_size=hf["vocab_size"], n_layer=hf.get("n_layer", 12),
        n_head=hf.get("n_head", 12), n_embd=hf.get("n_embd", 768), dropout=0.0, bias=True,
        activation=_HF_ACTIVATIONS[act], layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        n_inner=hf.get("n_inner"), tie_word_embeddings=hf.get("tie_word_embeddings", True),
    )


def hf_state_dict_to_gpt(state: dict, config: GPTConfig) -> dict:
    """Rename and transpose a GPT-2 state dict (GPT2LMHeadModel's or GPT2Model's) for GPT."""
    out = {}
    for name, array in state.items():
        key = name if name.startswith(("transformer.", "lm_head.")) else "transformer." + name
        if key.endswith((".attn.bias", ".attn.masked_bias")):  # old checkpoints' causal-mask buffers
            continue
        array = np.asarray(array, dtype=np.float32)
        if key.endswith(_CONV1D):  # Conv1D keeps (in, out); a Linear wants (out, in)
            array = np.ascontiguousarray(array.T)
        out[key] = array
    if "lm_head.weight" not in out:
        if not config.tie_word_embeddings:
            raise KeyError("GPT.from_hf: the checkpoint has no lm_head.weight and tie_word_embeddings is False")
        out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


# -- nanoGPT's character-level recipe -----------------------------------------------------------------------
def shakespeare_char_config(vocab_size=65, **overrides) -> GPTConfig:
    """nanoGPT's CPU settings for shakespeare_char: a 4-layer, 4-head, 128-wide GPT on 64 characters
    (bias=False, nanoGPT train.py's default)."""
    base = dict(block_size=64, vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    base.update(overrides)
    return GPTConfig(**base)


