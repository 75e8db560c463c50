"""The named graphs that `minigrad graph NAME` draws: each function returns a graphviz.Digraph.

    lookup     a bigram table read three ways: by a hard index (argmax), as one_hot @ table, and
               by soft attention; which leaves does a gradient reach?
    attention  one head of self-attention, softmax(q k^T / sqrt(d)) v, with its projections
    mlp        a 2-layer MLP with a cross-entropy loss, in module boxes
    gpt        a GPT from models/gpt.py with `layers` blocks (needs that model)

Every example is small and seeded, so the same picture comes back each time.
"""
from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import nn, viz
from minigrad.nn import functional as F

WORDS = ["show", "me", "my", "photos", "please"]


def lookup(dim: int = 4):
    """A bigram table (next-word logits per word) read three ways, drawn together.

    hard: the query picks its key by argmax, an integer: the path back to the query and the keys
          is cut (they are not in the graph at all); the table gets a gradient in one row.
    one-hot: the same row as one_hot(i) @ table; the one-hot row is a constant (dashed edge).
    soft: softmax(keys @ query / sqrt(d)) @ table: solid edges to the query, the keys and the table.
    """
    rng = np.random.default_rng(0)
    V = len(WORDS)
    table = mg.tensor(rng.normal(size=(V, V)).astype(np.float32), requires_grad=True)
    unit = rng.normal(size=(V, dim))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)  # unit keys: a key matches itself best
    keys = mg.tensor(unit.astype(np.float32), requires_grad=True)
    query = mg.tensor(unit[WORDS.index("my")].astype(np.float32), requires_grad=True)
    table.name, keys.name, query.name = "table (bigram logits)", "keys", "query ('my')"
    target = WORDS.index("photos")

    i = (keys @ query).argmax()  # an integer: no gradient can pass through it
    hard = table[i]
    hard_loss = -hard.log_softmax(dim=-1)[target]
    hard_loss.name = "hard lookup loss"

    row = F.one_hot(i.reshape(1), V).float().reshape(V)
    row.name = "one_hot(argmax)"
    soft_row = row @ table
    onehot_loss = -soft_row.log_softmax(dim=-1)[target]
    onehot_loss.name = "one-hot lookup loss"

    weights = ((keys @ query) / math.sqrt(dim)).softmax(dim=-1)
    attended = weights @ table
    soft_loss = -attended.log_softmax(dim=-1)[target]
    soft_loss.name = "soft lookup loss"
    return viz.draw_graph(
        [hard_loss, onehot_loss, soft_loss], highlight=[query, keys], rankdir="LR",
        title="Which leaves does a gradient reach? Red: the paths to the query and the keys",
    )


class _Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, d_model: int, d_head: int):
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_head, bias=False)
        self.k_proj = nn.Linear(d_model, d_head, bias=False)
        self.v_proj = nn.Linear(d_model, d_head, bias=False)

    def forward(self, x):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        T, d = x.shape[-2], q.shape[-1]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        causal = mg.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
        weights = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
        return weights @ v


def attention(T: int = 4, d_model: int = 8, d_head: int = 4):
    """softmax(q k^T / sqrt(d)) v for one head; the gradient reaches every projection."""
    mg.manual_seed(0)
    model = _Head(d_model, d_head)
    x = mg.randn(T, d_model)
    x.name = "x (token vectors)"
    with viz.record_modules(model, prefix="attn"):
        out = model(x)
    loss = (out * out).mean()
    loss.name = "loss"
    return viz.draw_graph(loss, params=model.named_parameters(prefix="attn"), rankdir="LR")


class _MLP(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def mlp(batch: int = 8, n_in: int = 3, n_hidden: int = 16, n_out: int = 4):
    """A 2-layer MLP and its cross-entropy loss, each layer in its own box."""
    mg.manual_seed(0)
    model = _MLP(n_in, n_hidden, n_out)
    x = mg.randn(batch, n_in)
    x.name = "x"
    y = mg.randint(0, n_out, (batch,))
    with viz.record_modules(model):
        logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.name = "loss"
    return viz.draw_graph(loss, params=model, rankdir="LR")


def gpt(layers: int = 1, vocab_size: int = 16, block_size: int = 8, n_embd: int = 16, n_head: int = 2):
    """A small GPT (models/gpt.py) and its loss on one batch, its blocks in module boxes."""
    try:
        from minigrad_models.gpt import GPT, GPTConfig
    except ImportError as e:
        raise RuntimeError(
            f"minigrad graph gpt: this example needs models/gpt.py, which could not be imported ({e}); "
            "run it from a clone of the repository"
        ) from None
    mg.manual_seed(0)
    config = GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=layers, n_head=n_head, n_embd=n_embd)
    model = GPT(config)
    idx = mg.randint(0, vocab_size, (1, block_size))
    targets = mg.randint(0, vocab_size, (1, block_size))
    with viz.record_modules(model):
        _, loss = model(idx, targets)
    loss.name = "loss"
    return viz.draw_graph(loss, params=model, rankdir="TB")


EXAMPLES = {"lookup": lookup, "attention": attention, "mlp": mlp, "gpt": gpt}
