# %% [markdown]
# # Lesson 6 — the Transformer: self-attention, heads, causal masks, positions
#
# Lesson 3 turned a table lookup into something differentiable: instead of reading one row,
# read a weighted average of all rows, with weights from a softmax over how well a query
# matches each key. This lesson builds the Transformer out of that one idea.
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# 1. attention is a soft lookup that hardens into a real one as the scores sharpen;
# 2. **self**-attention: every token is at once a query, a key and a value;
# 3. heads: several small attentions side by side, each free to look for something else;
# 4. causal masks: a language model must not read the token it is asked to predict;
# 5. positions: attention by itself cannot tell order, so we add it to the input;
# 6. a trained model: its attention maps show *what* it learnt to look up;
# 7. the key/value cache that makes generation cheap.
#
# Run it as a script (`python tutorials/06_transformer.py [--fast]`) or open it as a notebook
# with jupytext. Figures go to out/06_transformer/ (or --out DIR).

# %%
import math
import sys
import time
from pathlib import Path

if "__file__" in globals():  # run as a script from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.nn.transformer import sinusoidal_positions
from minigrad_tutorials.report import Lesson
from minigrad.train import Budget
from minigrad_models.gpt import GPT, GPTConfig

lesson = Lesson("06_transformer", "The Transformer: self-attention, heads, causal masks, positions",
                point="Attention is a soft lookup that hardens as its scores sharpen; trained to copy a string, "
                      "a small Transformer's heads learn to read exactly the position they must write.")
rng = np.random.default_rng(0)
mg.manual_seed(0)

# %% [markdown]
# ## 1. A soft lookup that hardens
#
# Four keys (the rows of the identity), four values, and a query that is a noisy copy of key
# 2. A dictionary would return value 2. Attention returns $\sum_j w_j v_j$ with
# $w = \mathrm{softmax}(s \cdot q K^\top)$; the scale $s$ decides how sharp the weights are.
# At $s \to \infty$ it *is* the dictionary lookup, but then the gradient with respect to the
# query vanishes: the soft version is what lets a network learn where to look.

# %%
keys = np.eye(4)
values = rng.standard_normal((4, 3))
query = keys[2] + 0.3 * rng.standard_normal(4)
rows = []
scales = [0.5, 1, 2, 4, 8, 16, 64]
for s in scales:
    q = mg.tensor(query[None], dtype=np.float64, requires_grad=True)
    out = F.scaled_dot_product_attention(q, mg.tensor(keys), mg.tensor(values), scale=s)
    out.sum().backward()
    w = np.exp(s * keys @ query)
    w /= w.sum()
    rows.append({"scale": s, **{f"w_{j}": float(w[j]) for j in range(4)},
                 "|out - v_2|": float(np.abs(out.numpy()[0] - values[2]).max()),
                 "|dout/dq|": float(np.abs(q.grad.numpy()).sum())})
lesson.table(rows, "soft_to_hard", caption="Weights on the four keys as the scores sharpen: the output "
             "tends to value 2 and the gradient reaching the query dies away.")
lesson.metric("lookup error at scale 64", rows[-1]["|out - v_2|"])
lesson.metric("query gradient at scale 1", rows[1]["|dout/dq|"])
lesson.metric("query gradient at scale 64", rows[-1]["|dout/dq|"])

fig, ax = plt.subplots(figsize=(5, 3))
for j in range(4):
    ax.plot(scales, [r[f"w_{j}"] for r in rows], marker="o", label=f"key {j}")
ax.set_xscale("log")
ax.set_xlabel("scale s of the scores")
ax.set_ylabel("attention weight")
ax.legend()
ax.set_title("softmax(s q K^T): from an average to a lookup")
lesson.figure(fig, "soft_to_hard", caption="The four keys' attention weights as the scores sharpen: from an "
              "average of all values to the lookup of value 2.")

# %% [markdown]
# The graph of one attention call: the fused node takes the query, the keys and the values,
# and every edge into it is solid: a gradient flows back to all three.

# %%
try:
    from minigrad import viz

    q, k, v = (mg.Tensor(a, requires_grad=True, name=name)
               for a, name in ((query[None], "query"), (keys, "keys"), (values, "values")))
    lesson.graph(viz.draw_graph(F.scaled_dot_product_attention(q, k, v).sum()), "attention_graph",
                 caption="softmax(q K^T / sqrt(d)) V as one graph node")
except ImportError:  # graphviz (the Python package) is optional
    lesson.say("(pip install graphviz to draw the computation graph)")

# %% [markdown]
# ## 2. Self-attention
#
# In self-attention the queries, keys and values all come from the same sequence
# $X \in \mathbb{R}^{T \times d}$, through three learned matrices:
# $Q = X W^Q$, $K = X W^K$, $V = X W^V$. Each position asks a question (its query), offers an
# answer (its value) under a label (its key), and gathers the answers whose labels match.
# `scaled_dot_product_attention` computes the whole thing as one fused graph node; here is the
# formula in plain numpy next to it.

# %%
T, d = 5, 8
X = rng.standard_normal((T, d))
Wq, Wk, Wv = (rng.standard_normal((d, d)) / math.sqrt(d) for _ in range(3))
Q, K, V = X @ Wq, X @ Wk, X @ Wv
S = Q @ K.T / math.sqrt(d)
P = np.exp(S - S.max(1, keepdims=True))
P /= P.sum(1, keepdims=True)
by_hand = P @ V
fused = F.scaled_dot_product_attention(mg.tensor(Q), mg.tensor(K), mg.tensor(V)).numpy()
lesson.metric("self-attention: max |numpy - fused|", float(np.abs(by_hand - fused).max()))

# %% [markdown]
# Why divide by $\sqrt{d_k}$? For random unit-variance queries and keys, $q \cdot k$ is a sum of
# $d_k$ products, so its variance is $d_k$. Without the division, wide heads would start with
# saturated, nearly one-hot softmaxes, whose gradients vanish, as in section 1.

# %%
for dk in (4, 64, 512):
    qs, ks = rng.standard_normal((2000, dk)), rng.standard_normal((2000, dk))
    lesson.metric(f"std of q.k at d_k={dk} (expected sqrt(d_k)={math.sqrt(dk):.1f})", float((qs * ks).sum(1).std()))

# %% [markdown]
# ## 3. Heads
#
# One softmax can only put its weight in one place per query. Multi-head attention splits
# the $d$ features into $h$ groups, runs $h$ attentions of width $d/h$ side by side, and
# concatenates them: $\mathrm{MultiHead}(X) = [\mathrm{head}_1; \dots; \mathrm{head}_h] W^O$.
# It costs the same as one wide head. `nn.MultiheadAttention` keeps PyTorch's layout
# (`in_proj_weight` stacks $W^Q, W^K, W^V$); below we redo its work head by head.

# %%
E, H = 8, 2
mha = nn.MultiheadAttention(E, H, batch_first=True).double()
x = mg.tensor(rng.standard_normal((1, T, E)))
out, weights = mha(x, x, x, average_attn_weights=False)
W, b = mha.in_proj_weight.numpy(), mha.in_proj_bias.numpy()
Qa, Ka, Va = (x.numpy()[0] @ W[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E] for i in range(3))
heads = []
for h in range(H):
    cols = slice(h * E // H, (h + 1) * E // H)
    s = Qa[:, cols] @ Ka[:, cols].T / math.sqrt(E // H)
    p = np.exp(s - s.max(1, keepdims=True))
    heads.append((p / p.sum(1, keepdims=True)) @ Va[:, cols])
redone = np.concatenate(heads, 1) @ mha.out_proj.weight.numpy().T + mha.out_proj.bias.numpy()
lesson.metric("heads: max |MultiheadAttention - concat(per-head attention) W^O|", float(np.abs(redone - out.numpy()[0]).max()))

# %% [markdown]
# ## 4. Causal masks
#
# A language model predicts token $t+1$ from tokens $1..t$. Trained on whole sequences at
# once, position $t$ must not look at later positions, or it would simply read the answer.
# Adding $-\infty$ to the scores above the diagonal gives those keys weight $e^{-\infty} = 0$.
# The check: change the last token, and no earlier output moves.

# %%
mask = np.triu(np.full((T, T), -np.inf), 1)
fig, ax = plt.subplots(figsize=(3, 3))
ax.imshow(np.isfinite(mask), cmap="Greens")
ax.set_xlabel("key position (what is read)")
ax.set_ylabel("query position (who reads)")
ax.set_title("causal mask: green = allowed")
lesson.figure(fig, "causal_mask", caption="The causal mask: position t may read positions 1..t (green), "
              "never a later one.")

q, k, v = (mg.tensor(rng.standard_normal((T, d))) for _ in range(3))
before = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
k2, v2 = k.numpy().copy(), v.numpy().copy()
k2[-1] += 5.0
v2[-1] += 5.0
after = F.scaled_dot_product_attention(q, mg.tensor(k2), mg.tensor(v2), is_causal=True).numpy()
lesson.metric("causal: change in outputs 0..T-2 after changing the last token", float(np.abs(after[:-1] - before[:-1]).max()))
lesson.metric("causal: change in output T-1", float(np.abs(after[-1] - before[-1]).max()))

# %% [markdown]
# ## 5. Positions
#
# Attention is a weighted *sum*: it does not care in which order the terms come. Permute the
# input tokens and self-attention's outputs come out permuted the same way, nothing more: "dog
# bites man" and "man bites dog" would look alike. So the Transformer adds a position signal
# to each token's embedding, either learned (GPT, BERT) or the paper's sinusoids
# $PE_{p, 2i} = \sin(p / 10000^{2i/d})$, $PE_{p, 2i+1} = \cos(p / 10000^{2i/d})$: clocks of
# geometric frequencies, in which a fixed offset is a fixed rotation.

# %%
perm = rng.permutation(T)
x = mg.tensor(rng.standard_normal((1, T, E)))
plain = mha(x, x, x, need_weights=False)[0].numpy()[0]
permuted = mha(x[:, perm], x[:, perm], x[:, perm], need_weights=False)[0].numpy()[0]
lesson.metric("no positions: max |attn(X[perm]) - attn(X)[perm]|", float(np.abs(permuted - plain[perm]).max()))
pe = mg.tensor(sinusoidal_positions(T, E, dtype=np.float64))
xp = x + pe
xp_perm = x[:, perm] + pe
plain = mha(xp, xp, xp, need_weights=False)[0].numpy()[0]
permuted = mha(xp_perm, xp_perm, xp_perm, need_weights=False)[0].numpy()[0]
lesson.metric("with positions: max |attn(X[perm] + PE) - attn(X + PE)[perm]|", float(np.abs(permuted - plain[perm]).max()))

fig, ax = plt.subplots(figsize=(6, 3))
ax.imshow(sinusoidal_positions(64, 32).T, aspect="auto", cmap="RdBu")
ax.set_xlabel("position p")
ax.set_ylabel("feature (sin, cos pairs)")
ax.set_title("sinusoidal position encoding")
lesson.figure(fig, "sinusoidal_positions", caption="Sinusoidal position encodings: each pair of features is "
              "a clock of its own frequency, so a fixed offset is a fixed rotation.")

# %% [markdown]
# ## 6. What a trained model looks up
#
# A task whose solution we know: copy a string. The model reads 8 random letters, a
# separator, and must then repeat the letters. To write the $i$-th letter of the copy, it has
# to find the $i$-th letter of the original: a lookup by position. We train a one-layer,
# two-head GPT (the model of models/gpt.py) and plot its attention weights.

# %%
n, V_letters = 8, 10
SEP = V_letters


def copy_batch(B):
    src = rng.integers(0, V_letters, (B, n))
    seq = np.concatenate([src, np.full((B, 1), SEP), src], 1)
    x, y = seq[:, :-1], seq[:, 1:].copy()
    y[:, :n] = -1  # only the copy is scored: the letters themselves are unpredictable
    return x, y


mg.manual_seed(0)
copier = GPT(GPTConfig(block_size=2 * n, vocab_size=V_letters + 1, n_layer=1, n_head=2, n_embd=32, bias=False))
opt = copier.configure_optimizers(0.0, 3e-3, (0.9, 0.99))
budget = Budget(**lesson.train_budget(fast=150, full=600, quick_seconds=20), desc="copier")
losses = []
while budget.running():
    xb, yb = copy_batch(32)
    _, loss = copier(xb, yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    budget.tick(losses[-1])
budget.close()
lesson.trained("one-layer GPT on the copy task", budget.step, budget.elapsed)
lesson.metric("copy task: final training loss", float(np.mean(losses[-10:])))
xb, yb = copy_batch(500)
logits, _ = copier(xb, yb)
accuracy = float((logits.numpy().argmax(-1)[:, n:] == yb[:, n:]).mean())
lesson.metric("copy task: accuracy on fresh strings", accuracy)

(maps,) = copier.attention_maps(xb[:1])
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
labels = [str(c) for c in xb[0]]
labels[n] = "|"
for h, ax in enumerate(axes):
    ax.imshow(maps[0, h], cmap="Blues", vmin=0, vmax=1)
    ax.set_title(f"head {h}")
    ax.set_xticks(range(2 * n))
    ax.set_xticklabels(labels)
    ax.set_yticks(range(2 * n))
    ax.set_yticklabels(labels)
    ax.set_xlabel("reads position")
axes[0].set_ylabel("writing at position")
fig.suptitle("attention of a trained copier: each copy position reads the letter it must write")
lesson.figure(fig, "copy_attention", caption="The trained copier's attention: while writing the copy (rows "
              "below the separator |), a head reads the letter it must write (the bright off-diagonal).", key=True)

# which source position does each copy position read most? At position n + i (the separator
# for i = 0) the model must write letter i, so it should read position i
reads = maps[0, :, n:2 * n, :n].argmax(-1)
best = max(range(2), key=lambda h: (reads[h] == np.arange(n)).mean())
read_right = float((reads[best] == np.arange(n)).mean())
lesson.metric("copy task: fraction of copy positions whose best head reads the right source", read_right)
lesson.point_shown(accuracy > 0.9 and read_right >= 0.75,
                   f"after {budget.step} steps the copier writes {accuracy:.1%} of fresh letters right, and its best "
                   f"head reads the right source letter at {read_right:.0%} of the copy positions")
lesson.table([{"copy position": n + i, "should read": i, **{f"head {h} reads": int(reads[h, i])
                                                            for h in range(2)}} for i in range(n)],
             "copy_reads", caption="Where each head puts most weight while writing the copy.")

# %% [markdown]
# ## 7. Generating with a key/value cache
#
# To sample token $t+1$ a GPT needs the keys and values of tokens $1..t$, which do not change
# once computed. The cache (`nn.KVCache`) keeps them, so each new token costs one position's
# worth of work instead of the whole prefix. Greedy decoding must give the same tokens both
# ways.

# %%
prompt = xb[:4, :n + 1]
t0 = time.perf_counter()
cached = copier.generate(prompt, n, temperature=0.0).numpy()
t_cached = time.perf_counter() - t0
t0 = time.perf_counter()
uncached = copier.generate(prompt, n, temperature=0.0, use_cache=False).numpy()
t_uncached = time.perf_counter() - t0
lesson.metric("KV cache: greedy tokens identical to the uncached path", bool((cached == uncached).all()))
lesson.metric("KV cache: generated copies equal the originals", float((cached[:, n + 1:] == prompt[:, :n]).mean()))
lesson.say(f"generation: {t_cached * 1e3:.0f} ms with the cache, {t_uncached * 1e3:.0f} ms without "
           "(the gap grows with the length of the context)")

# %%
lesson.finish()
