"""The original encoder-decoder Transformer (Vaswani et al., 2017) on the synthetic translation task.

    memory = Encoder(E_src[src] * sqrt(d) + PE)                  every source token sees every other
    h_t    = Decoder(E_tgt[y_<t] * sqrt(d) + PE, memory)          causal self-attention + cross-attention
    P(y_t | y_<t, src) = softmax(h_t E_tgt^T)                     the output layer shares E_tgt

No recurrence: a target token reaches any source token in one attention step, so accuracy
should not fall with sentence length the way an RNN encoder-decoder's does (lesson 5's table;
tutorials/recipes/transformer.py's `evaluate_by_length` makes this model's row).

Training follows the paper in small: Adam(0.9, 0.98, 1e-9), the warm-up then inverse-square-root
learning rate, label smoothing 0.1, dropout 0.1. Decoding is greedy with a KV cache: the
encoder runs once, and each step feeds the decoder only the newest token.

    from minigrad_tutorials.recipes.transformer import TrainConfig, evaluate_by_length, train_transformer
    task = TranslationTask(seed=0)
    data = task.splits(20000, 500, 1000)
    model, history = train_transformer(task, data["train"], Seq2SeqConfig(), TrainConfig())
    rows = evaluate_by_length(model, task, data["test"])    # recipes.seq2seq.evaluate's rows
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.data.translation import BOS_ID, EOS_ID, PAD_ID
from minigrad.backend import to_numpy
from minigrad.generation import beam_search, sample_stream, strip_after_eos
from minigrad.nn import functional as F
from minigrad.nn.inputs import token_ids


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int = 0           # filled in from the task
    tgt_vocab_size: int = 0
    d_model: int = 128
    nhead: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.1
    max_len: int = 128                # the longest source or target the position table covers
    norm_first: bool = False          # the paper is post-norm


class TransformerSeq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = config
        if c.src_vocab_size < 1 or c.tgt_vocab_size < 1:
            raise ValueError(f"TransformerSeq2Seq: set src_vocab_size and tgt_vocab_size (got {c.src_vocab_size}, "
                             f"{c.tgt_vocab_size}); for_task() fills them in")
        self.config = c
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model, padding_idx=PAD_ID)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model, padding_idx=PAD_ID)
        self.pos = nn.SinusoidalPositionalEmbedding(c.max_len, c.d_model)
        self.dropout = nn.Dropout(c.dropout)
        self.transformer = nn.Transformer(c.d_model, c.nhead, c.num_encoder_layers, c.num_decoder_layers,
                                          c.dim_feedforward, c.dropout, batch_first=True, norm_first=c.norm_first)
        # the paper scales embeddings by sqrt(d_model); start them at N(0, 1/d) so that the sum
        # with the unit-size positions is balanced
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, 0.0, c.d_model ** -0.5)
            with mg.no_grad():
                emb.weight.data[PAD_ID] = 0

    @classmethod
    def for_task(cls, task, config: Seq2SeqConfig | None = None):
        from dataclasses import replace

        return cls(replace(config or Seq2SeqConfig(), src_vocab_size=len(task.src_vocab),
                           tgt_vocab_size=len(task.tgt_vocab)))

    def _embed(self, table, ids, offset=0):
        x = table(ids) * math.sqrt(self.config.d_model) + self.pos(ids.shape[1], offset)
        return self.dropout(x)

    def encode(self, src, src_key_padding_mask=None):
        return self.transformer.encoder(self._embed(self.src_embed, src), src_key_padding_mask=src_key_padding_mask)

    def decode(self, tgt_in, memory, memory_key_padding_mask=None, kv_cache=None):
        offset = kv_cache.seq_len if kv_cache is not None else 0
        T = tgt_in.shape[1]
        mask = None if kv_cache is not None else nn.Transformer.generate_square_subsequent_mask(T, device=memory.device)
        h = self.transformer.decoder(self._embed(self.tgt_embed, tgt_in, offset), memory, tgt_mask=mask,
                                     memory_key_padding_mask=memory_key_padding_mask, kv_cache=kv_cache)
        return F.linear(h, self.tgt_embed.weight)  # shared input/output embedding

    def forward(self, src, tgt_in, src_key_padding_mask=None):
        """Logits (B, T, V) for every target position, teacher-forced with tgt_in."""
        src, tgt_in = self._ids(src), self._ids(tgt_in, "tgt_in")
        if src_key_padding_mask is None:
            src_key_padding_mask = src == PAD_ID
        memory = self.encode(src, src_key_padding_mask)
        return self.decode(tgt_in, memory, src_key_padding_mask)

    def _ids(self, x, name="src"):
        """Token ids, checked against their vocabulary, as a tensor on the model's device (host ids cross
        here, once)."""
        vocab = self.config.src_vocab_size if name == "src" else self.config.tgt_vocab_size
        return token_ids(x, type(self).__name__, name, vocab, self.tgt_embed.weight.device, ndim=None)

    @mg.no_grad()
    def greedy_decode(self, src, max_len=None):
        """Token ids (B, <= max_len) of the most likely translation, one token at a time; rows that
        have produced <eos> keep emitting <pad>. The loop stays on the model's device (each argmax
        is fed back from there); the host reads one flag a step (all rows ended?) and the ids at the end."""
        src = self._ids(src)
        was_training = self.training
        self.eval()
        try:
            pad = src == PAD_ID
            memory = self.encode(src, pad)
            max_len = max_len or min(self.config.max_len, 2 * src.shape[1] + 10)
            B, xp = src.shape[0], src.xp
            cache = nn.KVCache()

            def next_logits(tokens):  # <bos> first, then only the newest token: the cache holds the rest
                return self.decode(mg.as_tensor(tokens[:, -1:]), memory, pad, kv_cache=cache).data[:, -1]

            bos = xp.full((B, 1), BOS_ID, dtype=np.int64)
            out = list(sample_stream(next_logits, bos, max_len, temperature=0.0, eos_token_id=EOS_ID,
                                     pad_token_id=PAD_ID))
            return to_numpy(xp.stack(out, axis=1))
        finally:
            self.train(was_training)

    def greedy(self, src, src_lengths=None, max_len=None):
        """Lists of target ids without <eos>: minigrad_models.seq2seq's decoding interface, so that its
        `evaluate` scores this model the way it scores the recurrent ones."""
        ids = self.greedy_decode(src, max_len)
        out = []
        for row in ids:
            row = row.tolist()
            out.append(row[:row.index(EOS_ID)] if EOS_ID in row else [t for t in row if t != PAD_ID])
        return out

    @mg.no_grad()
    def beam_search(self, src, src_lengths=None, beam_size=5, max_len=None, alpha=0.6, use_cache=True):
        """The best of `beam_size` hypotheses per row by log P / length**alpha, as minigrad_models.seq2seq's
        beam search scores them (lists of ids without <eos>; minigrad.generation.beam_search). The
        decoder's KV cache follows the surviving hypotheses (KVCache.reorder); use_cache=False
        re-reads each prefix instead."""
        src = self._ids(src)
        was_training = self.training
        self.eval()
        try:
            B, K, xp = src.shape[0], beam_size, src.xp
            pad = src == PAD_ID
            memory = self.encode(src, pad)
            if max_len is None:
                longest = int((~pad.data).sum(1).max())  # one number read from the device, before the loop
                max_len = min(self.config.max_len, int(longest * 1.5 + 5))
            rep = xp.repeat(xp.arange(B), K)  # row b * K + k is beam k of sentence b
            memory, pad = memory[rep], mg.as_tensor(pad.data[rep])
            bos = xp.full((B * K, 1), BOS_ID, dtype=np.int64)

            def step(tokens, cache):
                # with the cache only the newest token (<bos> first); without, <bos> and the whole prefix
                fresh = (tokens[:, -1:] if tokens.shape[1] else bos) if cache is not None else \
                    xp.concatenate([bos, tokens], axis=1)
                logits = self.decode(mg.as_tensor(fresh), memory, pad, kv_cache=cache)
                return logits[:, -1].log_softmax(-1).data, cache

            sequences, _ = beam_search(step, nn.KVCache() if use_cache else None, batch_size=B, num_beams=K,
                                       max_new_tokens=max_len, xp=xp, eos_token_id=EOS_ID, pad_token_id=PAD_ID,
                                       length_penalty=alpha)
            return strip_after_eos(to_numpy(sequences), EOS_ID)
        finally:
            self.train(was_training)


