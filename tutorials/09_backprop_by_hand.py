# %% [markdown]
# # Lesson 9 — backprop by hand: every gradient of an MLP with batch norm, checked
#
# Lesson 1 differentiated one neuron by hand. This lesson does the same for a whole network, the
# makemore MLP language model with a batch-norm layer (Bengio et al. 2003's model; Ioffe & Szegedy
# 2015's normalisation), on names: three characters in, the next one out.
#
# 1. the forward pass written as ~20 small steps, each kept by minigrad with its value and
#    gradient (`viz.keep_values()`);
# 2. the backward pass **by hand**, in plain numpy, one line per step — cross-entropy, softmax,
#    the output layer, tanh, batch norm, the hidden layer, the embedding lookup — and every
#    intermediate gradient compared with minigrad's, tensor by tensor;
# 3. the two big steps collapsed into one formula each (the fused backward of cross-entropy and of
#    batch norm), checked against minigrad's `F.cross_entropy` and `nn.BatchNorm1d`;
# 4. the network trained with the hand-written gradients alone (no `loss.backward()`), step for
#    step equal to training with autograd;
# 5. the whole graph of a tiny copy, with the value and the gradient of every node drawn.
#
# Run it as a script (`python tutorials/09_backprop_by_hand.py [--fast | --full] [--data DIR]`) or
# open it as a notebook with jupytext. It reads names.txt from `--data` / `$MINIGRAD_DATA` and uses
# minigrad's built-in names when that file is absent.

# %%
import sys
from pathlib import Path

if "__file__" in globals():  # run as a script from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, viz
from minigrad.data import builtin_names
from minigrad.data.splits import makemore_split
from minigrad_tutorials.report import Lesson

lesson = Lesson("09_backprop_by_hand", "Backprop by hand: every gradient of an MLP with batch norm, checked",
                point="Every gradient of an MLP with batch norm can be written by hand, line by line; the hand-written "
                      "backward equals minigrad's to the last bit and trains the network on its own.")

names_path = lesson.data_dir / "names.txt" if lesson.data_dir else None
if names_path is not None and names_path.is_file():
    words, source = names_path.read_text().splitlines(), "names.txt (makemore)"
else:
    words = builtin_names(lesson.pick(fast=2000, quick=20000, full=32033))
    source = f"builtin_names({len(words)})"
chars = sorted(set("".join(words)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0  # start and end of a name
itos = {i: c for c, i in stoi.items()}
vocab_size = len(stoi)
block_size = 3  # characters of context


def build_dataset(ws):
    X, Y = [], []
    for w in ws:
        context = [0] * block_size
        for ch in w + ".":
            X.append(context)
            Y.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return np.array(X), np.array(Y)


train_words, dev_words, _ = makemore_split(words)  # random.seed(42), 80 / 10 / 10, as the lectures
Xtr, Ytr = build_dataset(train_words)
Xdev, Ydev = build_dataset(dev_words)
lesson.say(f"{source}: {len(train_words)} / {len(dev_words)} names train/dev, {len(Xtr)} / {len(Xdev)} examples; "
           f"vocabulary {vocab_size}")

# %% [markdown]
# ## 1. The network, one small step at a time
#
# | step | shape (batch n = 32) |
# |---|---|
# | `emb = C[X]` — look up each context character's vector | (n, 3, 10) |
# | `embcat` — the three vectors side by side | (n, 30) |
# | `hprebn = embcat @ W1 + b1` | (n, 64) |
# | batch norm: `bnmeani`, `bndiff`, `bndiff2`, `bnvar`, `bnvar_inv`, `bnraw` | (1, 64) and (n, 64) |
# | `hpreact = bngain * bnraw + bnbias` | (n, 64) |
# | `h = tanh(hpreact)` | (n, 64) |
# | `logits = h @ W2 + b2` | (n, 27) |
# | softmax: `logit_maxes`, `norm_logits`, `counts`, `counts_sum`, `counts_sum_inv`, `probs` | |
# | `logprobs = log(probs)`; `loss = -mean(logprobs[i, Y_i])` | scalar |
#
# Batch norm normalises each hidden unit over the batch with the *biased* variance (divided by n),
# as `nn.BatchNorm1d` does in training. The lecture divides by n - 1 (Bessel's correction) and
# points out that this differs from what PyTorch does; we follow PyTorch so that the checks in
# section 3 can use `nn.BatchNorm1d` itself. The weights start small but not at zero, and b1 is
# kept though batch norm cancels it: a gradient that is exactly zero would hide a wrong formula.
# Everything runs in float64, so that hand and machine can agree to the last digits.

# %%
n_embd, n_hidden, batch = 10, 64, 32


def init_params(seed, n_embd=n_embd, n_hidden=n_hidden, vocab_size=vocab_size):
    rng = np.random.default_rng(seed)
    fan_in = n_embd * block_size
    return {
        "C": rng.standard_normal((vocab_size, n_embd)),
        "W1": rng.standard_normal((fan_in, n_hidden)) * (5 / 3) / fan_in ** 0.5,
        "b1": rng.standard_normal(n_hidden) * 0.1,
        "W2": rng.standard_normal((n_hidden, vocab_size)) * 0.1,
        "b2": rng.standard_normal(vocab_size) * 0.1,
        "bngain": rng.standard_normal((1, n_hidden)) * 0.1 + 1.0,
        "bnbias": rng.standard_normal((1, n_hidden)) * 0.1,
    }


def forward(p, Xb, Yb, eps=1e-5):
    """The forward pass in the steps of the table; returns the loss and every intermediate by name."""
    n = Xb.shape[0]
    s = {}
    s["emb"] = p["C"][Xb]
    s["embcat"] = s["emb"].reshape(n, -1)
    s["hprebn"] = s["embcat"] @ p["W1"] + p["b1"]
    s["bnmeani"] = s["hprebn"].sum(0, keepdim=True) * (1 / n)
    s["bndiff"] = s["hprebn"] - s["bnmeani"]
    s["bndiff2"] = s["bndiff"] ** 2
    s["bnvar"] = s["bndiff2"].sum(0, keepdim=True) * (1 / n)
    s["bnvar_inv"] = (s["bnvar"] + eps) ** -0.5
    s["bnraw"] = s["bndiff"] * s["bnvar_inv"]
    s["hpreact"] = p["bngain"] * s["bnraw"] + p["bnbias"]
    s["h"] = s["hpreact"].tanh()
    s["logits"] = s["h"] @ p["W2"] + p["b2"]
    s["logit_maxes"] = s["logits"].max(1, keepdim=True).values
    s["norm_logits"] = s["logits"] - s["logit_maxes"]  # subtracting the max: exp cannot overflow
    s["counts"] = s["norm_logits"].exp()
    s["counts_sum"] = s["counts"].sum(1, keepdim=True)
    s["counts_sum_inv"] = s["counts_sum"] ** -1
    s["probs"] = s["counts"] * s["counts_sum_inv"]
    s["logprobs"] = s["probs"].log()
    loss = -s["logprobs"][np.arange(n), Yb].mean()
    return loss, s


params = {k: mg.tensor(v, requires_grad=True) for k, v in init_params(seed=42).items()}
batch_ix = np.random.default_rng(0).integers(0, len(Xtr), batch)
Xb, Yb = Xtr[batch_ix], Ytr[batch_ix]
with viz.keep_values():  # every intermediate keeps its value, and after backward its gradient
    loss, saved = forward(params, Xb, Yb)
loss.backward()
lesson.metric("loss of the first batch", loss.item())
lesson.say(f"at initialisation the loss is {loss.item():.4f}; guessing uniformly would give ln 27 = {np.log(27):.4f}")

# %% [markdown]
# ## 2. The backward pass by hand
#
# Each line is "the gradient from above times the local derivative", read off one forward step;
# where a value is used twice (`bndiff`, `counts`, `hprebn`, `logits`) the contributions add, and
# where a small tensor was broadcast against a larger one (`bnmeani`, `counts_sum_inv`, the biases)
# its gradient is the sum over the copies. Nothing here uses minigrad: plain numpy arrays.

# %%
v = {k: t.numpy() for k, t in saved.items()}  # the forward values
P = {k: t.numpy() for k, t in params.items()}
n = batch

dlogprobs = np.zeros_like(v["logprobs"])
dlogprobs[np.arange(n), Yb] = -1.0 / n                    # loss = -mean of the picked log-probabilities
dprobs = dlogprobs / v["probs"]                            # d log(p) = 1/p
dcounts_sum_inv = (v["counts"] * dprobs).sum(1, keepdims=True)   # broadcast along the row: sum back
dcounts = v["counts_sum_inv"] * dprobs                     # first use of counts
dcounts_sum = -v["counts_sum"] ** -2 * dcounts_sum_inv      # d x^-1 = -x^-2
dcounts += np.ones_like(v["counts"]) * dcounts_sum         # second use: counts_sum = sum of counts
dnorm_logits = v["counts"] * dcounts                       # d exp = exp
dlogits = dnorm_logits.copy()                               # first use of logits
dlogit_maxes = -dnorm_logits.sum(1, keepdims=True)
dlogits += np.eye(vocab_size)[v["logits"].argmax(1)] * dlogit_maxes   # second use: through the max
dh = dlogits @ P["W2"].T                                    # logits = h @ W2 + b2
dW2 = v["h"].T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1 - v["h"] ** 2) * dh                          # d tanh = 1 - tanh^2
dbngain = (v["bnraw"] * dhpreact).sum(0, keepdims=True)     # hpreact = bngain * bnraw + bnbias
dbnraw = P["bngain"] * dhpreact
dbnbias = dhpreact.sum(0, keepdims=True)
dbndiff = v["bnvar_inv"] * dbnraw                          # bnraw = bndiff * bnvar_inv: first use
dbnvar_inv = (v["bndiff"] * dbnraw).sum(0, keepdims=True)
dbnvar = -0.5 * (v["bnvar"] + 1e-5) ** -1.5 * dbnvar_inv   # d x^-1/2 = -1/2 x^-3/2
dbndiff2 = np.ones_like(v["bndiff2"]) * dbnvar / n          # bnvar = mean of bndiff2
dbndiff += 2 * v["bndiff"] * dbndiff2                      # second use: bndiff2 = bndiff^2
dhprebn = dbndiff.copy()                                    # bndiff = hprebn - bnmeani
dbnmeani = -dbndiff.sum(0, keepdims=True)
dhprebn += np.ones_like(v["hprebn"]) * dbnmeani / n         # bnmeani = mean of hprebn
dembcat = dhprebn @ P["W1"].T                               # hprebn = embcat @ W1 + b1
dW1 = v["embcat"].T @ dhprebn
db1 = dhprebn.sum(0)
demb = dembcat.reshape(v["emb"].shape)                      # embcat is emb, reshaped
dC = np.zeros_like(P["C"])
np.add.at(dC, Xb, demb)                                     # a row looked up twice gets both gradients

by_hand = {
    "logprobs": dlogprobs, "probs": dprobs, "counts_sum_inv": dcounts_sum_inv, "counts_sum": dcounts_sum,
    "counts": dcounts, "norm_logits": dnorm_logits, "logit_maxes": dlogit_maxes, "logits": dlogits, "h": dh,
    "W2": dW2, "b2": db2, "hpreact": dhpreact, "bngain": dbngain, "bnbias": dbnbias, "bnraw": dbnraw,
    "bnvar_inv": dbnvar_inv, "bnvar": dbnvar, "bndiff2": dbndiff2, "bndiff": dbndiff, "bnmeani": dbnmeani,
    "hprebn": dhprebn, "embcat": dembcat, "W1": dW1, "b1": db1, "emb": demb, "C": dC,
}
rows = []
for name, manual in by_hand.items():
    ours = (saved[name] if name in saved else params[name]).grad.numpy()
    diff = float(np.abs(manual - ours).max())
    rows.append({"gradient": f"d{name}", "shape": str(tuple(manual.shape)), "max |by hand - minigrad|": diff,
                 "exact": bool(np.allclose(manual, ours, rtol=0, atol=1e-12))})
lesson.table(rows, "manual_vs_minigrad",
             caption="Every intermediate gradient by hand (numpy) against minigrad's backward (float64).")
lesson.metric("intermediates compared", len(rows))
lesson.metric("max |by hand - minigrad|, all intermediates", max(r["max |by hand - minigrad|"] for r in rows))

fig, ax = plt.subplots(figsize=(8, 4))
ax.barh([r["gradient"] for r in rows][::-1], [max(r["max |by hand - minigrad|"], 1e-20) for r in rows][::-1])
ax.set_xscale("log")
ax.set_xlabel("max |by hand - minigrad| (float64)")
ax.set_title("Hand-written backward against minigrad, gradient by gradient")
lesson.figure(fig, "manual_vs_minigrad", caption="The largest difference per gradient: rounding only (1e-16 is "
              "float64's precision).", key=True)

# %% [markdown]
# ## 3. Two steps, one formula each
#
# **Cross-entropy.** The eight softmax steps collapse: with $p = \mathrm{softmax}(\text{logits})$
# and $y$ the one-hot targets, $\partial L / \partial \text{logits} = (p - y) / n$. The gradient
# pulls the right character's logit up and pushes every other one down in proportion to the
# probability it got.
#
# **Batch norm.** With $\hat x = $ `bnraw`, $\sigma^{-1} = $ `bnvar_inv` and $g = \gamma \cdot
# \partial L/\partial \text{hpreact}$ (biased variance):
# $$\frac{\partial L}{\partial \text{hprebn}} = \frac{\sigma^{-1}}{n}\Big(n\,g - \sum_i g_i
#   - \hat x \sum_i g_i \hat x_i\Big).$$
# Both are what minigrad's fused kernels compute; the same network built from its layers
# (`nn.Embedding`, `nn.Linear`, `nn.BatchNorm1d`, `F.cross_entropy`) gives the same loss and
# gradients.

# %%
logits = v["logits"]
probs = np.exp(logits - logits.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)
dlogits_fused = (probs - np.eye(vocab_size)[Yb]) / n
g = P["bngain"] * dhpreact
dhprebn_fused = v["bnvar_inv"] / n * (n * g - g.sum(0) - v["bnraw"] * (g * v["bnraw"]).sum(0))

# the same network from minigrad's layers, with the same weights
emb_layer, linear1 = nn.Embedding(vocab_size, n_embd).double(), nn.Linear(n_embd * block_size, n_hidden).double()
bn, linear2 = nn.BatchNorm1d(n_hidden).double(), nn.Linear(n_hidden, vocab_size).double()
with mg.no_grad():
    emb_layer.weight.copy_(P["C"])
    linear1.weight.copy_(P["W1"].T)
    linear1.bias.copy_(P["b1"])
    bn.weight.copy_(P["bngain"][0])
    bn.bias.copy_(P["bnbias"][0])
    linear2.weight.copy_(P["W2"].T)
    linear2.bias.copy_(P["b2"])
hprebn_layer = linear1(emb_layer(mg.tensor(Xb)).reshape(n, -1)).retain_grad()
logits_layer = linear2(bn(hprebn_layer).tanh()).retain_grad()
loss_layer = F.cross_entropy(logits_layer, mg.tensor(Yb))
loss_layer.backward()
fused = [
    {"formula": "cross-entropy: (softmax - onehot) / n", "compared with": "F.cross_entropy's gradient",
     "max |difference|": float(np.abs(dlogits_fused - logits_layer.grad.numpy()).max())},
    {"formula": "batch norm, one line", "compared with": "nn.BatchNorm1d's gradient",
     "max |difference|": float(np.abs(dhprebn_fused - hprebn_layer.grad.numpy()).max())},
    {"formula": "the layers' loss", "compared with": "the step-by-step loss",
     "max |difference|": abs(loss_layer.item() - loss.item())},
]
lesson.table(fused, "fused_backward", caption="The one-line backward formulas against minigrad's layers.")
lesson.metric("fused cross-entropy: max |difference|", fused[0]["max |difference|"])
lesson.metric("fused batch norm: max |difference|", fused[1]["max |difference|"])
lesson.metric("layers vs steps: |loss difference|", fused[2]["max |difference|"])

# %% [markdown]
# ## 4. Training with the hand-written gradients
#
# Now nothing calls `loss.backward()`: each step runs the forward pass in numpy, the backward pass
# with the formulas above (the fused ones for cross-entropy and batch norm), and updates the
# weights by SGD (learning rate 0.1, then 0.01 for the last quarter). For the first steps the same
# updates are made with minigrad's autograd, from the same start: the weights agree to rounding.
# Batch norm's running statistics are computed once at the end over the whole training set, as
# the lecture does, to evaluate on the dev names.

# %%
def manual_step(P, Xb, Yb, eps=1e-5):
    """Forward and backward by hand (fused formulas); returns the loss and the gradients."""
    n = Xb.shape[0]
    emb = P["C"][Xb]
    embcat = emb.reshape(n, -1)
    hprebn = embcat @ P["W1"] + P["b1"]
    mean, var = hprebn.mean(0, keepdims=True), hprebn.var(0, keepdims=True)
    var_inv = (var + eps) ** -0.5
    bnraw = (hprebn - mean) * var_inv
    h = np.tanh(P["bngain"] * bnraw + P["bnbias"])
    logits = h @ P["W2"] + P["b2"]
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    loss = -logp[np.arange(n), Yb].mean()
    dlogits = (np.exp(logp) - np.eye(logits.shape[1])[Yb]) / n
    dh = dlogits @ P["W2"].T
    dhpreact = (1 - h ** 2) * dh
    g = P["bngain"] * dhpreact
    dhprebn = var_inv / n * (n * g - g.sum(0) - bnraw * (g * bnraw).sum(0))
    dembcat = dhprebn @ P["W1"].T
    dC = np.zeros_like(P["C"])
    np.add.at(dC, Xb, dembcat.reshape(emb.shape))
    grads = {"C": dC, "W1": embcat.T @ dhprebn, "b1": dhprebn.sum(0), "W2": h.T @ dlogits, "b2": dlogits.sum(0),
             "bngain": (bnraw * dhpreact).sum(0, keepdims=True), "bnbias": dhpreact.sum(0, keepdims=True)}
    return loss, grads


def evaluate(P, X, Y, eps=1e-5):
    """The loss with batch norm's statistics taken over the whole training set."""
    hpre_train = P["C"][Xtr].reshape(len(Xtr), -1) @ P["W1"] + P["b1"]
    mean, var = hpre_train.mean(0, keepdims=True), hpre_train.var(0, keepdims=True)
    h = np.tanh(P["bngain"] * (P["C"][X].reshape(len(X), -1) @ P["W1"] + P["b1"] - mean) / np.sqrt(var + eps)
                + P["bnbias"])
    logits = h @ P["W2"] + P["b2"]
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-logp[np.arange(len(Y)), Y].mean())


steps = lesson.pick(fast=60, quick=20000, full=100000)
check_steps = 20  # fewer than any budget's steps
rng = np.random.default_rng(1)
manual = init_params(seed=42)
autograd_params = {k: mg.tensor(a, requires_grad=True) for k, a in init_params(seed=42).items()}
losses = []
for step in range(steps):
    ix = rng.integers(0, len(Xtr), batch)
    lr = 0.1 if step < 0.75 * steps else 0.01
    loss_value, grads = manual_step(manual, Xtr[ix], Ytr[ix])
    for k in manual:
        manual[k] -= lr * grads[k]
    if step < check_steps:  # the same update through autograd
        auto_loss, _ = forward(autograd_params, Xtr[ix], Ytr[ix])
        for p in autograd_params.values():
            p.grad = None
        auto_loss.backward()
        with mg.no_grad():
            for p in autograd_params.values():
                p -= lr * p.grad
        if step == check_steps - 1:
            drift = max(float(np.abs(manual[k] - autograd_params[k].numpy()).max()) for k in manual)
    losses.append(loss_value)
lesson.metric(f"weights after {check_steps} steps: max |manual - autograd|", drift)
lesson.metric("training steps", steps)
lesson.metric("train loss, first batch", float(losses[0]))
lesson.metric("train loss, mean of the last 100 batches", float(np.mean(losses[-100:])))
dev_loss = evaluate(manual, Xdev, Ydev)
lesson.metric("dev loss", dev_loss)
reference = ("makemore part 3's MLP with batch norm (200 hidden units, 200,000 steps) reaches 2.106 on this split"
             if source.startswith("names.txt") else "built-in names, not names.txt: not comparable with the lectures")
lesson.say(f"trained with hand-written gradients only: dev loss {dev_loss:.4f} after {steps} steps, one seed ({reference})")

fig, ax = plt.subplots(figsize=(7, 3.5))
window = max(1, min(100, steps // 10))
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
ax.plot(losses, alpha=0.3, label="each batch")
ax.plot(np.arange(window - 1, steps), smooth, label=f"mean of {window}")
ax.axhline(dev_loss, color="k", ls="--", lw=1, label=f"dev loss {dev_loss:.3f}")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy (nats)")
ax.set_title("Training with the hand-written backward pass")
ax.legend()
lesson.figure(fig, "training_by_hand", caption="No loss.backward(): every gradient from the formulas above.")

# %% [markdown]
# ## 5. The whole graph, every value and every gradient
#
# A tiny copy of the network (4 names' worth of examples, 2-dimensional embeddings, 3 hidden units)
# built inside `viz.keep_values()`, so that after backward every node of the graph still has its
# value and its gradient, as micrograd's `draw_dot` shows them. The boxes are the tensors of the
# table in section 1; the gradient on each is what the lines of section 2 computed.

# %%
tiny = {k: mg.tensor(a, requires_grad=True, name=k) for k, a in
        init_params(seed=3, n_embd=2, n_hidden=3).items()}
with viz.keep_values():
    tiny_loss, tiny_saved = forward(tiny, Xtr[:4], Ytr[:4])
for name, t in tiny_saved.items():
    t.name = name
tiny_loss.name = "loss"
tiny_loss.backward()
try:
    picture = viz.draw_graph(tiny_loss, show_values=True, show_grads=True, rankdir="TB",
                             title="makemore MLP with batch norm, batch 4: value and gradient of every node")
    lesson.graph(picture, "tiny_mlp_graph", caption="Every intermediate with its value and its gradient.")
except ImportError as e:  # the graphviz Python package is missing
    lesson.say(f"({e})")
lesson.metric("tiny graph: tensors with a gradient",
              sum(t.grad is not None for t in list(tiny_saved.values()) + list(tiny.values())))
worst = max(r["max |by hand - minigrad|"] for r in rows)
lesson.point_shown(
    all(r["exact"] for r in rows) and drift < 1e-9 and float(np.mean(losses[-100:])) < float(losses[0]),
    f"{len(rows)} hand-written gradients within {worst:.1e} of minigrad's; the same updates as autograd for "
    f"{check_steps} steps (weights within {drift:.1e}); the loss fell from {losses[0]:.3f} to "
    f"{float(np.mean(losses[-100:])):.3f} on hand-written gradients alone")

lesson.finish()
