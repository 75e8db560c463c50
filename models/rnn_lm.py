"""Character language models with a recurrent core: embedding -> RNN / LSTM / GRU -> linear.

    x_t = E[c_t]                          embedding of the t-th character
    h_t = cell(x_t, h_{t-1})              nn.RNN, nn.LSTM or nn.GRU (minigrad.nn.recurrent)
    P(c_{t+1} | c_1 .. c_t) = softmax(h_t W^T + b)

Unlike an n-gram, the state h_t summarises the whole history, not the last n-1 characters; how
much of it survives is what the three cells differ in (lesson 4).

Two data conventions, so that the numbers compare with the n-grams of lesson 2 and with the
lectures:

* names (makemore): each name is one sequence, read from '.', predicting every letter and the
  closing '.': ".emma" -> "emma.", len + 1 predictions per name, the state starts at zero for
  every name. Loss = total nats over all predictions of a split / their number.
* a text stream (tiny Shakespeare, first 90 % train / last 10 % validation): the stream is cut
  into `batch_size` parallel strands that are read in consecutive chunks of `seq_len`, the state
  carried from one chunk to the next (truncated backpropagation through time, as char-rnn
  trains). The validation loss reads the whole validation stream the same way, so every
  character of it is predicted once with all the context the model can hold.

The batching, the loss over a split and the training loop are in tutorials/recipes/char_lm.py
(`names_batches`, `stream_batches`, `train`, `run_names`, `run_stream`); `minigrad train lstm`
trains one from the command line. Lesson 4 runs all three with the settings below under `--full`
(its default, quick budget trains 128-wide cells for a share of wall-clock time instead of 3000 /
1200 updates).

Measured (held-out nats per character; embed 64, hidden 256, one layer, AdamW with cosine decay
to lr/10, gradient clipping at 1; one process with one BLAS thread on a shared 2-core machine,
times are wall-clock under a load of 3-10, CPU time where it was recorded):

    names.txt, makemore dev split, 3000 updates of 64 names, lr 5e-3, dropout 0.25 before the head
        RNN   1.997  (91K parameters, 155 s)     n-grams on the same split (minigrad_models.ngram):
        GRU   1.934  (256K, 354 s)                 Kneser-Ney bigram 2.453, 5-gram 1.991
        LSTM  1.925  (338K, 470 s)               published: count bigram 2.454, MLP 2.17,
                                                   hierarchical MLP 1.993; makemore's transformer
                                                   ~1.92 (on its own split)
    tiny Shakespeare, last 10 %, 32 strands x 64 characters, lr 3e-3
        1200 updates (2.5M characters, ~2.4 epochs):  RNN 1.693 (168 s), LSTM 1.628 (455 s),
                                                      GRU 1.584 (435 s)
        3000 updates (6.1M characters, dropout 0.1):  LSTM 1.522 (301 s CPU), GRU 1.515 (207 s CPU)
        Kneser-Ney 5-gram 1.561, 6-gram 1.523 (minigrad_models.ngram, same split)
"""
from __future__ import annotations


import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.backend import to_numpy
from minigrad.nn.inputs import token_ids
from minigrad.random import get_rng
from minigrad.tensor import Tensor
from minigrad.generation import sample_stream

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
IGNORE = -100  # the loss's ignore_index: padding after the end of a name


class CharRNN(nn.Module):
    """embedding -> `cell` (rnn, lstm or gru; num_layers deep) -> linear head over the vocabulary.

    forward(idx, state=None) takes ids (B, T) and returns (logits (B, T, V), state); pass the
    state back in to continue a sequence.
    """

    def __init__(self, vocab_size, cell="lstm", embed_dim=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"CharRNN: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell, self.vocab_size = cell, vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        # host ids are checked against the vocabulary and go where the model is: the batch going in
        idx = token_ids(idx, "CharRNN", "idx", self.vocab_size, self.head.weight.device, ndim=None)
        if idx.ndim != 2:
            raise ValueError(f"CharRNN: expected ids of shape (batch, time), got {tuple(idx.shape)}")
        h, state = self.rnn(self.embed(idx), state)
        B, T, H = h.shape
        logits = self.head(self.drop(h).reshape(B * T, H)).reshape(B, T, self.vocab_size)
        return logits, state

    @mg.no_grad()
    def generate(self, prompt_ids, max_new_tokens, temperature=1.0, generator=None, stop_id=None, top_k=None):
        """Sample a continuation of each row of prompt_ids (B, T0), one character at a time,
        carrying the state (temperature 0: the most likely one; top_k: only among the k most
        likely; minigrad.generation draws); a row ends after `stop_id` (the names' '.'). Returns
        lists of ids.

        The loop stays on the model's device: each sampled id is fed back from there and drawn by
        the device's generator; the ids reach the host once, at the end. With stop_id, one flag a
        step (have all rows stopped?) comes back to end the loop early."""
        was_training = self.training
        self.eval()
        try:
            prompt = token_ids(prompt_ids, "CharRNN.generate", "prompt_ids", self.vocab_size, self.head.weight.device)
            logits, state = self(prompt)
            xp = logits.xp

            def next_logits(tokens):  # the state has read the prompt: feed only the newest token
                nonlocal logits, state
                if tokens.shape[1] > prompt.shape[1]:
                    logits, state = self(Tensor._make(tokens[:, -1:], False, None), state)
                return logits.data[:, -1]

            steps = list(sample_stream(next_logits, prompt.data, max_new_tokens, temperature=temperature, top_k=top_k,
                                       eos_token_id=stop_id, rng=get_rng(generator, xp)))
        finally:
            self.train(was_training)
        ids = to_numpy(xp.stack(steps, axis=1)) if steps else np.zeros((logits.shape[0], 0), dtype=np.int64)
        out = []
        for row in ids.tolist():  # each row up to and including its first stop_id
            out.append(row[:row.index(stop_id) + 1] if stop_id is not None and stop_id in row else row)
        return out


def detach_state(state):
    """Cut the graph between chunks (truncated BPTT) but keep the values."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


