"""Sequence to sequence: an LSTM encoder-decoder (Sutskever et al. 2014), with the source read
backwards if asked, and with Bahdanau et al. (2015)'s additive attention.

Plain (Sutskever): the encoder LSTM reads x_1 .. x_S; its final states (h, c) of every layer
start the decoder LSTM, which predicts y_1 .. y_T from <bos> y_1 .. y_{T-1}. The whole source must
pass through that one fixed-size state. `reverse_source=True` feeds x_S .. x_1 instead: the first
source words, which usually decide the first target words, are then read last, a few steps
before they are needed, which shortens the paths the gradient travels at the start of the
sentence ("many short term dependencies", Sutskever et al. 2014, section 3.3).

Attention (Bahdanau): a bidirectional encoder gives one annotation h_j = [h->_j ; h<-_j] per
source word. Before emitting y_i, the decoder state s_{i-1} scores every annotation,

    e_ij = v^T tanh(W s_{i-1} + U h_j)            AdditiveAttention
    a_ij = softmax_j(e_ij)                         (padded source positions get no weight)
    c_i  = sum_j a_ij h_j                          the context, a soft lookup of the source
    s_i  = LSTM([E y_{i-1} ; c_i], s_{i-1})        the context is fed to the decoder
    P(y_i | ...) = softmax(W_o [s_i ; c_i] + b_o)

and the decoder starts from s_0 = tanh(W_s h<-_1) (the backward encoder's state after reading
the whole sentence), as in the paper. Where this differs from the paper: LSTM instead of GRU
units, and a linear output layer over [s_i; c_i] instead of the maxout "deep output".

Decoding: `greedy` (argmax at every step) and `beam_search` (the `beam_size` best partial
translations by total log-probability, finished ones set aside, the winner chosen by
log-probability / length**alpha). Both run a whole batch of sentences at once.

tutorials/recipes/seq2seq.py trains the three models on the synthetic task (minigrad.data.translation)
and its `evaluate` gives exact-match and token accuracy by source-length bucket (lesson 5's table).

Measured on the synthetic task (TranslationTask(seed=0, lexicon_fraction=0.25): 119 source and
201 target tokens; 20,000 training pairs, 1,000 test pairs, source lengths 5-40), one layer,
embed 64, hidden 128 (per direction), attention size 64, Adam lr 3e-3 with cosine decay, batches
of 64; greedy decoding, exact match / token accuracy:

    source length          5-9        10-14      15-19      20-24      25-29      30-34      35-40      all
    800 updates (the same data for each; CPU seconds: plain 48, reversed 44, attention 155)
    plain               .01/.43    .00/.24    .00/.15    .00/.13    .00/.10    .00/.10    .00/.08    .00/.13
    reversed            .29/.74    .00/.47    .00/.31    .00/.23    .00/.18    .00/.16    .00/.14    .05/.23
    attention          1.00/1.00   .99/.99   1.00/1.00   .97/.99    .94/.99    .89/.97    .85/.97    .95/.98
    2800 updates (about the attention model's CPU time: plain 188 s, reversed 174 s)
    plain               .68/.91    .09/.68    .00/.47    .00/.36    .00/.27    .00/.22    .00/.18    .12/.32
    reversed            .94/.99    .48/.87    .10/.67    .00/.45    .00/.33    .00/.27    .00/.23    .22/.41

Reversing the source roughly doubles the plain model's accuracy, most on short sentences;
both fall to zero exact matches beyond ~20 tokens, while attention keeps 85 % exact matches at
35-40. Beam search (5) adds up to a few points (attention: .946 -> .952 exact overall).
"""
from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.backend import to_numpy, xp_of
from minigrad.generation import beam_search, strip_after_eos
from minigrad.nn import functional as F
from minigrad.ops.linalg import WeightedSum

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2  # the translation task's special ids


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score(s, h_j) = v^T tanh(W s + U h_j); returns (context, weights).

    forward(query (B, Q), keys (B, S, K), mask (B, S) bool, True where a key is real) ->
    context sum_j a_j keys_j (B, K) and weights a (B, S). `project_keys(keys)` computes U h_j once
    per source sentence; pass it as `projected_keys` to reuse it at every decoder step.
    Parameters: W (Linear, no bias), U (Linear; its bias is the score's bias), v (attn_size,).
    """

    def __init__(self, query_size, key_size, attn_size):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size)
        bound = 1 / math.sqrt(attn_size)  # what nn.Linear(attn_size, 1) would draw
        self.v = nn.Parameter(mg.empty(attn_size).uniform_(-bound, bound))

    def project_keys(self, keys):
        B, S, K = keys.shape
        return self.U(keys.reshape(B * S, K)).reshape(B, S, -1)

    def forward(self, query, keys, mask=None, projected_keys=None):
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        # v^T tanh(.) as a product and a sum, not a matmul with v: numpy's matmul is slow when the
        # contracted dim is 1, which is what the backward of (.) @ v would run
        scores = ((self.W(query).unsqueeze(1) + projected_keys).tanh() * self.v).sum(dim=-1)  # e_j: (B, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)                                 # a_j
        return WeightedSum.apply(weights, keys), weights                 # sum_j a_j h_j


def reverse_within_lengths(src, lengths):
    """Each row's first lengths[b] ids reversed, the padding left where it is (arrays of either device)."""
    xp = xp_of(src)
    T = src.shape[1]
    t = xp.arange(T)[None, :]
    L = xp.asarray(lengths)[:, None]
    index = xp.where(t < L, L - 1 - t, t)
    return xp.take_along_axis(src, index, axis=1)


class Seq2Seq(nn.Module):
    """Encoder-decoder LSTM; `attention=True` makes it Bahdanau's (bidirectional encoder, additive
    attention, context fed to the decoder), `reverse_source=True` makes it read the source backwards."""

    def __init__(self, src_vocab, tgt_vocab, embed_dim=64, hidden_size=128, num_layers=1, attention=False,
                 reverse_source=False, attn_size=None, dropout=0.0):
        super().__init__()
        self.attention, self.reverse_source = attention, reverse_source
        self.hidden_size, self.num_layers, self.tgt_vocab = hidden_size, num_layers, tgt_vocab
        self.src_embed = nn.Embedding(src_vocab, embed_dim)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed_dim)
        self.encoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=attention,
                               dropout=dropout if num_layers > 1 else 0.0)
        dec_in = embed_dim + (2 * hidden_size if attention else 0)
        self.decoder = nn.LSTM(dec_in, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0)
        if attention:
            self.attn = AdditiveAttention(hidden_size, 2 * hidden_size, attn_size or hidden_size)
            self.init_state = nn.Linear(hidden_size, hidden_size)   # W_s: s_0 = tanh(W_s h<-_1)
            self.out = nn.Linear(hidden_size + 2 * hidden_size, tgt_vocab)
        else:
            self.out = nn.Linear(hidden_size, tgt_vocab)

    # -- encoder ------------------------------------------------------------------------------------
    def encode(self, src, src_lengths):
        """Returns (memory, decoder start state): memory holds what the decoder reads at each step
        (annotations, their projections U h_j and the mask) or None for the plain model. Ids and
        lengths given on the host cross to the model's device here, once."""
        device = self.src_embed.weight.device
        src, lengths = mg.as_tensor(src, device=device), mg.as_tensor(src_lengths, device=device)
        if src.ndim != 2 or lengths.shape != (src.shape[0],):
            raise ValueError(f"Seq2Seq.encode: src must be (batch, time) with one length per row, got src "
                             f"{tuple(src.shape)} and lengths {tuple(lengths.shape)}")
        if self.reverse_source:
            src = mg.as_tensor(reverse_within_lengths(src.data, lengths.data))
        annotations, (h_n, c_n) = self.encoder(self.src_embed(src), lengths=lengths)
        if not self.attention:
            return None, (h_n, c_n)
        # h_n is (layers * 2, B, H): index 2l + 1 is layer l's backward direction, which ends at x_1
        backward_final = h_n.reshape(self.num_layers, 2, *h_n.shape[1:])[:, 1]
        s0 = self.init_state(backward_final).tanh()
        xp = src.xp
        mask = mg.as_tensor(xp.arange(src.shape[1])[None, :] < lengths.data[:, None])  # on the device, like the scores
        keys = annotations.contiguous()  # read at every decoder step: lay it out once
        memory = {"keys": keys, "projected": self.attn.project_keys(keys), "mask": mask}
        return memory, (s0, mg.zeros_like(s0))

    # -- decoder ------------------------------------------------------------------------------------
    def decode_step(self, y_prev, state, memory):
        """One target step: ids y_prev (B,) -> (logits (B, V), new state, attention weights or None)."""
        emb = self.tgt_embed(mg.as_tensor(y_prev, device=self.tgt_embed.weight.device))
        if memory is None:
            s, state = self.decoder(emb.unsqueeze(0), state)
            return self.out(s[0]), state, None
        context, weights = self.attn(state[0][-1], memory["keys"], memory["mask"], memory["projected"])
        s, state = self.decoder(cat_last(emb, context).unsqueeze(0), state)
        return self.out(cat_last(s[0], context)), state, weights

    def forward(self, src, src_lengths, tgt_in):
        """Teacher forcing: logits (B, T, V) for every position of tgt_in (<bos> y_1 .. y_{T-1})."""
        tgt_in = mg.as_tensor(tgt_in, device=self.tgt_embed.weight.device)
        memory, state = self.encode(src, src_lengths)
        B, T = tgt_in.shape
        emb = self.tgt_embed(tgt_in.T)  # (T, B, E)
        if memory is None:  # the whole target in one pass of the decoder LSTM
            s, _ = self.decoder(emb, state)
            return self.out(s.reshape(T * B, -1)).reshape(T, B, -1).transpose(0, 1)
        states, contexts = [], []
        for i in range(T):  # each step's context depends on the state before it: a loop
            context, _ = self.attn(state[0][-1], memory["keys"], memory["mask"], memory["projected"])
            s, state = self.decoder(cat_last(emb[i], context).unsqueeze(0), state)
            states.append(s[0])
            contexts.append(context)
        features = cat_last(mg.stack(states, dim=1), mg.stack(contexts, dim=1))  # (B, T, 3H)
        return self.out(features.reshape(B * T, -1)).reshape(B, T, -1)

    def loss(self, batch):
        logits = self(batch.src, batch.src_lengths, batch.tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               mg.as_tensor(batch.tgt_out.reshape(-1), device=logits.device), ignore_index=PAD_ID)

    # -- decoding -----------------------------------------------------------------------------------
    @mg.no_grad()
    def greedy(self, src, src_lengths, max_len=None, return_attention=False):
        """The argmax translation of every row: lists of target ids (without <eos>).

        The loop runs on the model's device (each argmax fed back from there); the host reads one
        flag a step (have all rows ended?) and the ids (and attention weights) once, at the end."""
        was_training = self.training
        self.eval()
        lengths = mg.as_tensor(src_lengths).numpy()  # host lengths: the loop's bound and the cut below
        max_len = max_len or int(lengths.max() * 1.5 + 5)
        memory, state = self.encode(src, src_lengths)
        xp = state[0].xp
        B = len(lengths)
        y = xp.full(B, BOS_ID, dtype=np.int64)
        ys, attention = [], []
        done = xp.zeros(B, dtype=bool)
        for _ in range(max_len):
            logits, state, weights = self.decode_step(y, state, memory)
            y = logits.data.argmax(axis=-1)
            ys.append(y)
            if weights is not None and return_attention:
                attention.append(weights.data)
            done |= y == EOS_ID
            if done.all():
                break
        self.train(was_training)
        ids = to_numpy(xp.stack(ys, axis=1)).tolist()
        out = [row[:row.index(EOS_ID)] if EOS_ID in row else row for row in ids]
        if not return_attention:
            return out
        maps = to_numpy(xp.stack(attention, axis=1)) if attention else None  # (B, steps, S)
        attn = [[maps[b, i, :lengths[b]] for i in range(len(out[b]))] if maps is not None else []
                for b in range(B)]
        return out, attn

    @mg.no_grad()
    def beam_search(self, src, src_lengths, beam_size=5, max_len=None, alpha=0.6):
        """The best of `beam_size` hypotheses per row by log P / length**alpha (minigrad.generation's
        beam search, transformers' length penalty): lists of ids without <eos>."""
        was_training = self.training
        self.eval()
        lengths = mg.as_tensor(src_lengths).numpy()
        B, K = len(lengths), beam_size
        max_len = max_len or int(lengths.max() * 1.5 + 5)
        memory, state = self.encode(src, src_lengths)
        xp = state[0].xp
        # every sentence's encoding repeated K times: row b * K + k is beam k of sentence b
        rep = xp.repeat(xp.arange(B), K)
        state = tuple(s[:, rep] for s in state)
        if memory is not None:
            memory = {k: v[rep] for k, v in memory.items()}

        def step(tokens, state):
            y = tokens[:, -1] if tokens.shape[1] else xp.full(B * K, BOS_ID, dtype=np.int64)
            logits, state, _ = self.decode_step(y, state, memory)
            return logits.log_softmax(-1).data, state

        sequences, _ = beam_search(step, state, batch_size=B, num_beams=K, max_new_tokens=max_len, xp=xp,
                                   eos_token_id=EOS_ID, pad_token_id=PAD_ID, length_penalty=alpha,
                                   reorder=lambda state, rows: tuple(s[:, rows] for s in state))
        self.train(was_training)
        return strip_after_eos(to_numpy(sequences), EOS_ID)


def cat_last(a, b):
    return mg.cat([a, b], dim=-1)


VARIANTS = {
    "plain": dict(attention=False, reverse_source=False),
    "reversed": dict(attention=False, reverse_source=True),
    "attention": dict(attention=True, reverse_source=False),
}


def make_model(task, variant, **kwargs):
    return Seq2Seq(len(task.src_vocab), len(task.tgt_vocab), **VARIANTS[variant], **kwargs)


