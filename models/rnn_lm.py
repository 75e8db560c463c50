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
  `names_batches`, `names_loss`.
* a text stream (tiny Shakespeare, first 90 % train / last 10 % validation): the stream is cut
  into `batch_size` parallel strands that are read in consecutive chunks of `seq_len`, the state
  carried from one chunk to the next (truncated backpropagation through time, as char-rnn
  trains). The validation loss reads the whole validation stream the same way, so every
  character of it is predicted once with all the context the model can hold.
  `stream_batches`, `stream_loss`.

Run `python -m models.rnn_lm --corpus names --cell lstm --steps 3000` to train one
(`--data DIR` or $MINIGRAD_DATA for names.txt / tinyshakespeare.txt; without them the built-in
corpora are used). Lesson 4 runs all three with the settings below under `--full` (its
default, quick budget trains 128-wide cells for a share of wall-clock time instead of 3000 / 1200
updates).

Measured (held-out nats per character; embed 64, hidden 256, one layer, AdamW with cosine decay
to lr/10, gradient clipping at 1; one process with one BLAS thread on a shared 2-core machine,
times are wall-clock under a load of 3-10, CPU time where it was recorded):

    names.txt, makemore dev split, 3000 updates of 64 names, lr 5e-3, dropout 0.25 before the head
        RNN   1.997  (91K parameters, 155 s)     n-grams on the same split (models.ngram):
        GRU   1.934  (256K, 354 s)                 Kneser-Ney bigram 2.453, 5-gram 1.991
        LSTM  1.925  (338K, 470 s)               published: count bigram 2.454, MLP 2.17,
                                                   hierarchical MLP 1.993; makemore's transformer
                                                   ~1.92 (on its own split)
    tiny Shakespeare, last 10 %, 32 strands x 64 characters, lr 3e-3
        1200 updates (2.5M characters, ~2.4 epochs):  RNN 1.693 (168 s), LSTM 1.628 (455 s),
                                                      GRU 1.584 (435 s)
        3000 updates (6.1M characters, dropout 0.1):  LSTM 1.522 (301 s CPU), GRU 1.515 (207 s CPU)
        Kneser-Ney 5-gram 1.561, 6-gram 1.523 (models.ngram, same split)
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.backend import to_numpy
from minigrad.nn import functional as F
from minigrad.nn.inputs import token_ids
from minigrad.random import get_rng
from minigrad.tensor import Tensor
from minigrad.generation import sample_stream
from minigrad.train import Budget

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


# -- names: one sequence per name ------------------------------------------------------------------
def encode_names(words, tokenizer):
    """Each name -> (input ids '.'+name, target ids name+'.'), '.' being the tokenizer's id 0."""
    boundary = tokenizer.stoi["."]
    out = []
    for w in words:
        ids = tokenizer.encode(w)
        out.append((np.array([boundary] + ids, dtype=np.int64), np.array(ids + [boundary], dtype=np.int64)))
    return out


def pad_names(pairs):
    """Right-pad a list of (x, y) to one (B, T) batch; padded targets are IGNORE."""
    T = max(len(x) for x, _ in pairs)
    xs = np.zeros((len(pairs), T), dtype=np.int64)
    ys = np.full((len(pairs), T), IGNORE, dtype=np.int64)
    for b, (x, y) in enumerate(pairs):
        xs[b, :len(x)] = x
        ys[b, :len(y)] = y
    return xs, ys


def names_batches(encoded, batch_size, rng):
    """Endless random batches of names (x, y), each a (B, T) padded array."""
    if len(encoded) < batch_size:
        raise ValueError(f"names_batches: {len(encoded)} names are fewer than batch_size={batch_size}")
    while True:
        order = rng.permutation(len(encoded))  # a new shuffle every epoch
        for start in range(0, len(encoded) - batch_size + 1, batch_size):
            yield pad_names([encoded[i] for i in order[start:start + batch_size]])


@mg.no_grad()
def names_loss(model, encoded, batch_size=1024):
    """Mean nats per predicted character over all names (each name's letters and its final '.')."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        x, y = pad_names(encoded[start:start + batch_size])
        logits, _ = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                                 ignore_index=IGNORE, reduction="sum").item()
        count += int((y != IGNORE).sum())
    model.train(was_training)
    return total / count


# -- a text stream: parallel strands, consecutive chunks, state carried ------------------------------
def strands(ids, batch_size, offset=0):
    """Cut ids[offset:] into batch_size equal consecutive strands: (batch_size, n)."""
    ids = np.asarray(ids, dtype=np.int64)[offset:]
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(f"strands: {len(ids)} tokens are too few for {batch_size} strands")
    return ids[:n * batch_size].reshape(batch_size, n)


def stream_batches(ids, batch_size, seq_len, rng):
    """Endless (x, y, new_epoch) chunks of seq_len from batch_size strands; each epoch starts
    at a random offset so that chunk boundaries move. Carry the state while new_epoch is False."""
    while True:
        s = strands(ids, batch_size, int(rng.integers(0, seq_len)))
        for start in range(0, s.shape[1] - 1, seq_len):
            end = min(start + seq_len, s.shape[1] - 1)
            yield s[:, start:end], s[:, start + 1:end + 1], start == 0


@mg.no_grad()
def stream_loss(model, ids, batch_size=16, seq_len=256):
    """Mean nats per character over a whole stream, read in strands with the state carried:
    every character after the first of each strand is predicted once."""
    was_training = model.training
    model.eval()
    s = strands(ids, batch_size)
    state, total, count = None, 0.0, 0
    for start in range(0, s.shape[1] - 1, seq_len):
        end = min(start + seq_len, s.shape[1] - 1)
        logits, state = model(s[:, start:end], state)
        y = s[:, start + 1:end + 1]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                                 reduction="sum").item()
        count += y.size
    model.train(was_training)
    return total / count


# -- training -----------------------------------------------------------------------------------------
def train(model, batches, steps=None, seconds=None, lr=3e-3, grad_clip=1.0, stateful=False,
          weight_decay=0.0, log_every=0, log=print, desc="train"):
    """Adam with cosine decay to lr/10 over `steps` updates, or until `seconds` have passed if
    that comes first (the decay then follows the share of the time spent, so a run cut short by
    the clock still ends at lr/10); returns {"steps", "seconds" (wall clock), "cpu seconds"
    (this process's CPU time: the honest figure on a shared machine), "tokens", "losses"}.

    stateful=True: batches yield (x, y, new_epoch) and the state is carried (detached) between them.
    A progress bar (minigrad.train.Budget, named `desc`) shows the step, the loss and the time left.
    """
    budget = Budget(steps, seconds, desc=desc)
    horizon = steps or 1000
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=horizon, eta_min=lr / 10)
    model.train()
    cpu0 = time.process_time()
    state, losses, tokens = None, [], 0
    while budget.running():
        batch = next(batches)
        if stateful:
            x, y, new_epoch = batch
            state = None if new_epoch or state is None else detach_state(state)
        else:
            x, y = batch
            state = None
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                               ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        if grad_clip:
            optim.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
        tokens += int((y != IGNORE).sum())
        budget.tick(losses[-1])
        budget.schedule(sched, horizon)   # epoch = the update count, or the share of the time spent
        step = budget.step
        if log_every and log and step % log_every == 0:
            elapsed = budget.elapsed
            line = (f"step {step}: loss {np.mean(losses[-log_every:]):.4f}  "
                    f"({tokens / elapsed:,.0f} tok/s, {elapsed:.0f} s)")
            budget.write(line) if log is print else log(line)   # above the bar, not through it
    budget.close()
    return {"steps": budget.step, "seconds": budget.elapsed, "cpu seconds": time.process_time() - cpu0,
            "tokens": tokens, "losses": losses}


# -- the experiments --------------------------------------------------------------------------------
def load_names(data_dir=None):
    """(train, dev, test) names with the makemore split, and where they came from."""
    from minigrad.data import builtin_names
    from minigrad.data.splits import makemore_split

    words, source = _read_lines(data_dir, "names.txt")
    if words is None:
        words, source = builtin_names(4000), "builtin_names(4000)"
    return makemore_split(words), source


def load_stream(data_dir=None):
    """(train text, val text) of tiny Shakespeare (90 / 10), or of the built-in text."""
    from minigrad.data import builtin_text, train_val_split

    text, source = None, None
    if data_dir is not None:
        path = Path(data_dir) / "tinyshakespeare.txt"
        if path.is_file():
            text, source = path.read_text(encoding="utf-8"), str(path)
    if text is None:
        text, source = builtin_text(200_000), "builtin_text(200_000)"
    return train_val_split(text, 0.9), source


def _read_lines(data_dir, name):
    if data_dir is None:
        return None, None
    path = Path(data_dir) / name
    if not path.is_file():
        return None, None
    return path.read_text(encoding="utf-8").splitlines(), str(path)


def run_names(cell, data_dir=None, hidden_size=256, embed_dim=64, batch_size=64, steps=None, seconds=120,
              lr=5e-3, dropout=0.0, seed=0, log_every=0):
    from minigrad.data import CharTokenizer

    (train_w, dev_w, test_w), source = load_names(data_dir)
    tok = CharTokenizer(train_w + dev_w + test_w, specials=["."])
    mg.manual_seed(seed)
    model = CharRNN(tok.vocab_size, cell, embed_dim, hidden_size, dropout=dropout)
    train_enc, dev_enc = encode_names(train_w, tok), encode_names(dev_w, tok)
    stats = train(model, names_batches(train_enc, batch_size, np.random.default_rng(seed)), steps, seconds, lr,
                  log_every=log_every)
    return {"corpus": "names", "source": source, "cell": cell, "hidden": hidden_size, "params": model.num_parameters(),
            "steps": stats["steps"], "seconds": round(stats["seconds"], 1), "cpu seconds": round(stats["cpu seconds"], 1),
            "train loss": names_loss(model, train_enc), "dev loss": names_loss(model, dev_enc)}, model, tok


def run_stream(cell, data_dir=None, hidden_size=256, embed_dim=64, batch_size=32, seq_len=64, steps=None,
               seconds=180, lr=3e-3, dropout=0.0, seed=0, log_every=0):
    from minigrad.data import CharTokenizer

    (train_text, val_text), source = load_stream(data_dir)
    tok = CharTokenizer(train_text + val_text)
    mg.manual_seed(seed)
    model = CharRNN(tok.vocab_size, cell, embed_dim, hidden_size, dropout=dropout)
    train_ids, val_ids = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    batches = stream_batches(train_ids, batch_size, seq_len, np.random.default_rng(seed))
    stats = train(model, batches, steps, seconds, lr, stateful=True, log_every=log_every)
    return {"corpus": "text", "source": source, "cell": cell, "hidden": hidden_size, "params": model.num_parameters(),
            "steps": stats["steps"], "seconds": round(stats["seconds"], 1), "cpu seconds": round(stats["cpu seconds"], 1),
            "train chars seen": stats["tokens"], "val loss": stream_loss(model, val_ids)}, model, tok


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a character RNN/LSTM/GRU language model.")
    parser.add_argument("--corpus", choices=["names", "text"], default="names")
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--data", default=None, help="folder with names.txt / tinyshakespeare.txt ($MINIGRAD_DATA)")
    args = parser.parse_args(argv)
    data_dir = args.data or os.environ.get("MINIGRAD_DATA")
    kw = dict(data_dir=data_dir, steps=args.steps, dropout=args.dropout, seconds=None if args.steps else args.minutes * 60, log_every=100)
    if args.hidden:
        kw["hidden_size"] = args.hidden
    if args.lr:
        kw["lr"] = args.lr
    run = run_names if args.corpus == "names" else run_stream
    result, model, tok = run(args.cell, **kw)
    for k, v in result.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    if args.corpus == "names":
        samples = model.generate(np.zeros((10, 1), dtype=np.int64), 20, stop_id=0)
        print("samples:", ", ".join(tok.decode(s).rstrip(".") for s in samples))
    else:
        prompt = np.array([tok.encode("\n")])
        print(tok.decode(model.generate(prompt, 300)[0]))
    return result


if __name__ == "__main__":
    main()


__all__ = ["CharRNN", "encode_names", "pad_names", "names_batches", "names_loss", "strands", "stream_batches",
           "stream_loss", "train", "run_names", "run_stream", "detach_state"]
