# %% [markdown]
# # Lesson 4 — RNN, LSTM, GRU: character language models, and why gates help
#
# An n-gram model (lesson 2) predicts the next character from the last n-1 and forgets the
# rest. A **recurrent** network reads the sequence one character at a time and keeps a state
# $h_t$ that summarises *everything* so far:
#
# $$h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh}), \qquad
#   P(c_{t+1} \mid c_{\le t}) = \mathrm{softmax}(h_t W^T + b).$$
#
# In principle that is unlimited context. In practice the gradient that tells $h_t$ what an
# early input should have done has to travel back through every step in between, and in a
# vanilla RNN it shrinks (or grows) geometrically on the way. The LSTM and the GRU add
# **gates** that let information, and gradient, pass through many steps almost unchanged.
#
# This lesson trains the three cells as character models on names and on a text stream, puts
# their held-out loss next to the n-grams of lesson 2, and then measures the gradient norm
# $\lVert \partial h_t / \partial x_{t-k} \rVert$ against the lag $k$.
#
# Run it as a script (`python tutorials/04_rnn_lstm_gru.py [--fast | --full] [--data DIR]`) or
# open it as a notebook with jupytext. Without `--data` it uses minigrad's built-in corpora. By
# default the models are 128 wide and the LSTM, the slowest, trains for a share of wall-clock
# time (the RNN and the GRU then get as many updates): about two minutes in all, busy machine
# or not. `--full` trains the 256-wide models of the README for 3000 / 1200 updates, `--fast`
# for a few steps only (a smoke test). Figures go to out/04_rnn_lstm_gru/.

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
from minigrad import nn
from minigrad.data import CharTokenizer, builtin_names, builtin_text, train_val_split
from minigrad.data.splits import makemore_split
from minigrad_tutorials.report import Lesson
from minigrad_tutorials.seeds import difference, estimate, summarize
from minigrad_models import rnn_lm
from minigrad_models.ngram import NGramLM
from minigrad_tutorials.recipes import char_lm

lesson = Lesson("04_rnn_lstm_gru", "RNN, LSTM, GRU: character language models and gradients across time",
                point="Gates let the gradient cross many steps: the gated cells (LSTM, GRU) beat the plain RNN as "
                      "character models, and the gradient from 20 steps back vanishes in the RNN but not in an LSTM "
                      "whose forget gate is open.")
FAST = lesson.fast


def corpus_file(name):
    path = lesson.data_dir / name if lesson.data_dir else None
    return path if path is not None and path.is_file() else None


names_path, text_path = corpus_file("names.txt"), corpus_file("tinyshakespeare.txt")
if names_path:
    words, names_source = names_path.read_text().splitlines(), "names.txt (makemore)"
else:
    # full trains 4x longer than quick: on 20,000 made-up names the gated cells then overfit, so it reads more
    words = builtin_names(lesson.pick(fast=2000, quick=20000, full=60000))
    names_source = f"builtin_names({len(words)})"
if text_path:
    text, text_source = text_path.read_text(), "tinyshakespeare.txt"
    if FAST:
        text, text_source = text[:100_000], "tinyshakespeare.txt[:100000]"
else:
    text = builtin_text(60_000 if FAST else 500_000)
    text_source = f"builtin_text({len(text)})"

train_words, dev_words, _ = makemore_split(words)        # random.seed(42), 80 / 10 / 10
train_text, val_text = train_val_split(text, 0.9)         # first 90 % / last 10 %
lesson.say(f"names: {names_source}, {len(train_words)} / {len(dev_words)} train/dev; "
           f"text: {text_source}, {len(train_text)} / {len(val_text)} characters train/val")

# budgets: fast only shows that everything runs; quick (the default, about two minutes) trains
# 128-wide cells (a third of the cost of 256) for a share of wall-clock time, which on a busy
# 2-core machine is still a few hundred updates, enough for the gated cells to pull ahead of the
# RNN; full is what models/rnn_lm.py's docstring quotes
HIDDEN = lesson.pick(fast=48, quick=128, full=256)
EMBED = 16 if FAST else 64
# the claims are about the mean over seeds: the other seeds run this whole lesson in other processes
# at the same time (one per core; where seeds must take turns they split the time budget)
SEEDS = lesson.run_seeds(fast=2, quick=2, full=5)
NAMES_BUDGET = lesson.train_budget(fast=60, full=3000, quick_seconds=15)
TEXT_BUDGET = lesson.train_budget(fast=40, full=1200, quick_seconds=20)
DROPOUT_NAMES = 0.0 if FAST else 0.25
PACE_ORDER = ("lstm", "gru", "rnn")   # the slowest first: it sets the number of updates for the others

# %% [markdown]
# ## 1. Three cells
#
# All three compute a new state from the input $x_t$ and the old state; they differ in how.
# With $\sigma$ the logistic sigmoid and $*$ elementwise (PyTorch's gate order, which
# `minigrad.nn` follows so that weights copy across):
#
# | | update |
# |---|---|
# | RNN | $h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$ |
# | LSTM | $i, f, g, o = \sigma, \sigma, \tanh, \sigma\,(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$; $\;c_t = f * c_{t-1} + i * g$; $\;h_t = o * \tanh(c_t)$ |
# | GRU | $r, z = \sigma(\dots)$; $\;\tilde h_t = \tanh(W_{in} x_t + b_{in} + r * (W_{hn} h_{t-1} + b_{hn}))$; $\;h_t = (1 - z) * \tilde h_t + z * h_{t-1}$ |
#
# The LSTM's cell state $c_t$ is updated by a **sum**: $\partial c_t / \partial c_{t-1} = f$,
# so along the cell the gradient is multiplied by the forget gate and nothing else. With the
# gate open ($f \approx 1$) it crosses many steps unchanged: Hochreiter and Schmidhuber's
# *constant error carousel*.
#
# The GRU in the lecture reads
# $z_t = \sigma(W_z [h_{t-1}, x_t])$, $r_t = \sigma(W_r [h_{t-1}, x_t])$,
# $\tilde h_t = \tanh(W [r_t * h_{t-1}, x_t])$, $h_t = (1 - z_t) * h_{t-1} + z_t * \tilde h_t$.
# PyTorch's differs in two places. (1) Its $z$ weights the *old* state; since
# $1 - \sigma(a) = \sigma(-a)$, the lecture's $z$ is PyTorch's with the $z$ weights negated,
# the same family of models. (2) It resets *after* the matmul, $r * (W_{hn} h)$, where the
# lecture resets before it, $W_{hn}(r * h)$: a different function, equal only when $r = 1$.
# The cell below writes the lecture's form and checks both statements numerically.

# %%
def lecture_gru_step(x, h, W_z, b_z, W_r, b_r, W, b):
    """The lecture's GRU: [h, x] is the concatenation of the state and the input."""
    hx = mg.cat([h, x], dim=-1)
    z = (hx @ W_z.T + b_z).sigmoid()                             # update gate
    r = (hx @ W_r.T + b_r).sigmoid()                             # reset gate
    h_tilde = (mg.cat([r * h, x], dim=-1) @ W.T + b).tanh()      # candidate
    return (1 - z) * h + z * h_tilde


def lecture_weights_from_pytorch(cell):
    """Map a (PyTorch-layout) GRUCell's weights onto the lecture's: z negated, [h, x] order."""
    H = cell.hidden_size
    Wi, Wh = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    bi, bh = cell.bias_ih.numpy(), cell.bias_hh.numpy()
    rows = {"r": slice(0, H), "z": slice(H, 2 * H), "n": slice(2 * H, 3 * H)}

    def joined(g):
        return mg.tensor(np.concatenate([Wh[rows[g]], Wi[rows[g]]], axis=1))

    return dict(W_z=-joined("z"), b_z=mg.tensor(-(bi[rows["z"]] + bh[rows["z"]])),
                W_r=joined("r"), b_r=mg.tensor(bi[rows["r"]] + bh[rows["r"]]),
                W=joined("n"), b=mg.tensor(bi[rows["n"]] + bh[rows["n"]]))


mg.manual_seed(0)
cell = nn.GRUCell(3, 5).double()
x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)))
h = mg.tensor(np.random.default_rng(1).standard_normal((4, 5)))
W = lecture_weights_from_pytorch(cell)
differences = []
for label, reset_bias in [("reset gate as trained (r in (0, 1))", 0.0), ("reset gate saturated open (r = 1)", 50.0)]:
    with mg.no_grad():
        cell.bias_ih.data[:5] += reset_bias
    W = lecture_weights_from_pytorch(cell)
    diff = np.abs(cell(x, h).numpy() - lecture_gru_step(x, h, **W).numpy()).max()
    differences.append({"case": label, "max |PyTorch GRU - lecture GRU|": float(diff)})
lesson.table(differences, "gru_forms", caption="PyTorch's GRU against the lecture's, with z negated: "
             "equal when the reset gate is open, different otherwise (reset after vs before the matmul).")
lesson.metric("GRU forms differ (r free)", differences[0]["max |PyTorch GRU - lecture GRU|"])
lesson.metric("GRU forms agree (r = 1)", differences[1]["max |PyTorch GRU - lecture GRU|"])

# %% [markdown]
# ## 2. Character models of names
#
# Each name is one sequence read from `.` and asked to predict every letter and the closing
# `.` (makemore's convention, the same predictions the n-grams of lesson 2 are scored on).
# The model is `embedding -> cell -> linear` (`models/rnn_lm.py`); the state starts at zero
# for every name. Loss is in nats per character on the dev split.

# %%
tok_names = CharTokenizer(words, specials=["."])
train_enc, dev_enc = char_lm.encode_names(train_words, tok_names), char_lm.encode_names(dev_words, tok_names)
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
names_rows, names_models, names_curves = {}, {}, {}
budget = NAMES_BUDGET
for cell_name in PACE_ORDER:
    mg.manual_seed(lesson.seed)
    model = rnn_lm.CharRNN(tok_names.vocab_size, cell_name, EMBED, HIDDEN, dropout=DROPOUT_NAMES)
    batches = char_lm.names_batches(train_enc, 64, np.random.default_rng(lesson.seed))
    stats = char_lm.train(model, batches, **budget, lr=5e-3, desc=f"{cell_name} on names")
    budget = {"steps": stats["steps"], "seconds": None}   # the others: as many updates as the slowest got
    lesson.trained(f"{CELL_NAMES[cell_name]} on names", stats["steps"], stats["seconds"])
    names_models[cell_name], names_curves[cell_name] = model, stats["losses"]
    names_rows[cell_name] = {"model": CELL_NAMES[cell_name], "parameters": model.num_parameters(),
                             "steps": stats["steps"], "CPU seconds": round(stats["cpu seconds"], 1),
                             "train loss": char_lm.names_loss(model, train_enc),
                             "dev loss": char_lm.names_loss(model, dev_enc)}
names_rows = [names_rows[c] for c in CELL_NAMES]   # RNN, LSTM, GRU
for n in (2, 5):
    kn = NGramLM(n, boundary=".").fit(train_words)
    names_rows.append({"model": f"Kneser-Ney {n}-gram", "train loss": kn.cross_entropy(train_words),
                       "dev loss": kn.cross_entropy(dev_words)})
lesson.table(names_rows, "names_loss", caption=f"Names ({names_source}): nats per character, makemore split.")
for row in names_rows:
    lesson.metric(f"names {row['model']} dev loss", row["dev loss"], note="" if lesson.full or not row.get("steps")
                  else "3000 updates at width 256 (--full) measured RNN 1.923, GRU 1.914, LSTM 1.903")
if names_path:
    lesson.say("published reference points on this split: count bigram 2.454, MLP (3 characters) 2.17, "
               "hierarchical MLP 1.993, Kneser-Ney 5-gram about 1.99; makemore's transformer about 1.92 on its own split")

best = min((r for r in names_rows if r["model"] in CELL_NAMES.values()), key=lambda r: r["dev loss"])
best_model = names_models[[k for k, v in CELL_NAMES.items() if v == best["model"]][0]]
samples = best_model.generate(np.zeros((12, 1), dtype=np.int64), 20, generator=mg.Generator(1), stop_id=0)
lesson.say(f"{best['model']} samples: " + ", ".join(tok_names.decode(s).rstrip(".") for s in samples))

# %% [markdown]
# ## 3. A text stream
#
# A play is one long stream, not a list of short sequences. It is cut into 32 parallel
# strands that are read in consecutive chunks of 64 characters; the state is carried from one
# chunk to the next and the gradient is cut at the chunk boundary (*truncated*
# backpropagation through time, as char-rnn trains). The validation loss reads the whole
# validation text the same way, so each character is predicted with all the context the model
# can hold.

# %%
tok_text = CharTokenizer(text)
train_ids, val_ids = np.array(tok_text.encode(train_text)), np.array(tok_text.encode(val_text))
text_rows, text_models, text_curves = {}, {}, {}
budget = TEXT_BUDGET
for cell_name in PACE_ORDER:
    mg.manual_seed(lesson.seed)
    model = rnn_lm.CharRNN(tok_text.vocab_size, cell_name, EMBED, HIDDEN)
    batches = char_lm.stream_batches(train_ids, 32, 64, np.random.default_rng(lesson.seed))
    stats = char_lm.train(model, batches, **budget, lr=3e-3, stateful=True, desc=f"{cell_name} on text")
    budget = {"steps": stats["steps"], "seconds": None}
    lesson.trained(f"{CELL_NAMES[cell_name]} on text", stats["steps"], stats["seconds"])
    text_models[cell_name], text_curves[cell_name] = model, stats["losses"]
    text_rows[cell_name] = {"model": CELL_NAMES[cell_name], "parameters": model.num_parameters(),
                            "steps": stats["steps"], "CPU seconds": round(stats["cpu seconds"], 1),
                            "characters seen": stats["tokens"], "val loss": char_lm.stream_loss(model, val_ids)}
text_models = {c: text_models[c] for c in CELL_NAMES}
text_rows = [text_rows[c] for c in CELL_NAMES]
for n in (5, 6):
    kn = NGramLM(n).fit(train_text)
    text_rows.append({"model": f"Kneser-Ney {n}-gram", "val loss": kn.cross_entropy(val_text)})
lesson.table(text_rows, "text_loss", caption=f"Text ({text_source}): nats per character on the last 10 %.")
for row in text_rows:
    lesson.metric(f"text {row['model']} val loss", row["val loss"])
if text_path:
    lesson.say("reference points: Kneser-Ney 5-gram about 1.57, 6-gram about 1.54 nats/char on the validation split")
best_text = min((r for r in text_rows if r["model"] in CELL_NAMES.values()), key=lambda r: r["val loss"])
best_text_model = text_models[[k for k, v in CELL_NAMES.items() if v == best_text["model"]][0]]
sample = best_text_model.generate(np.array([tok_text.encode("\n")]), 200, generator=mg.Generator(2))[0]
lesson.say(f"{best_text['model']} sample:\n" + tok_text.decode(sample))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, curves, title in ((axes[0], names_curves, "names"), (axes[1], text_curves, "text")):
    for cell_name, losses in curves.items():
        window = max(1, len(losses) // 30)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) + window, smooth, label=CELL_NAMES[cell_name])
    ax.set(title=f"training loss, {title}", xlabel="update", ylabel="nats / character")
    ax.legend()
lesson.figure(fig, "training_curves", caption="Training loss (moving average) of the three cells.")

# %% [markdown]
# ## 4. Gradients across time
#
# How much does the state at step $t$ depend on the input $k$ steps earlier? Take a random
# direction $u$, the scalar $u \cdot h_t$, and its gradient with respect to every input
# $x_{t-k}$ (the embedded characters of 80-character windows of the text):
#
# $$\frac{\partial\, u \cdot h_t}{\partial x_{t-k}} = u^T \frac{\partial h_t}{\partial h_{t-1}} \cdots
#   \frac{\partial h_{t-k+1}}{\partial h_{t-k}} \frac{\partial h_{t-k}}{\partial x_{t-k}}.$$
#
# For the vanilla RNN every factor is $\mathrm{diag}(1 - h^2) W_{hh}$: a product of $k$ matrices
# whose norm is usually below one, so the gradient vanishes geometrically, and whatever
# happened 20 steps ago gets no learning signal. For the LSTM the cell path contributes the
# factor $\mathrm{diag}(f)$ per step; PyTorch's initialisation leaves $f \approx 0.5$, but a
# forget gate biased open ($b_f = 3$, $f \approx 0.95$) carries the gradient across the
# whole window.

# %%
LAGS = 80


def lag_gradient_norms(embed, rnn, ids, batch=16):
    """Mean over windows of ||d (u . h_t) / d x_{t-k}|| for k = 0 .. LAGS-1 (t = the window's last step)."""
    windows = char_lm.strands(ids, batch)[:, :LAGS]
    x = embed(mg.tensor(windows)).detach().requires_grad_()
    out, _ = rnn(x)
    u = np.random.default_rng(0).standard_normal(out.shape[-1]).astype(np.float32)
    u /= np.linalg.norm(u)
    (g,) = mg.autograd.grad((out[:, -1] * mg.tensor(u)).sum(), [x])
    return np.linalg.norm(g.numpy(), axis=-1).mean(axis=0)[::-1]   # index k = lag


curves = {}
for cell_name, model in text_models.items():
    curves[f"{CELL_NAMES[cell_name]}, trained"] = lag_gradient_norms(model.embed, model.rnn, val_ids)
for cell_name in ("rnn", "lstm"):
    mg.manual_seed(0)
    fresh = rnn_lm.CharRNN(tok_text.vocab_size, cell_name, EMBED, HIDDEN)
    curves[f"{CELL_NAMES[cell_name]}, at init"] = lag_gradient_norms(fresh.embed, fresh.rnn, val_ids)
mg.manual_seed(0)
open_gate = rnn_lm.CharRNN(tok_text.vocab_size, "lstm", EMBED, HIDDEN)
with mg.no_grad():
    open_gate.rnn.bias_hh_l0.data[HIDDEN:2 * HIDDEN] += 3.0      # b_f = 3: the forget gate starts open
curves["LSTM, at init, forget bias +3"] = lag_gradient_norms(open_gate.embed, open_gate.rnn, val_ids)

fig, ax = plt.subplots(figsize=(7.5, 4.5))
styles = {"trained": "-", "init": "--"}
for label, norms in curves.items():
    ax.semilogy(np.arange(LAGS), np.maximum(norms / norms[0], 1e-30), styles["trained" if "trained" in label else "init"],
                label=label)
ax.set(xlabel="lag k (steps back from t)", ylabel="||d(u.h_t)/dx_{t-k}|| / (same at k = 0)",
       title="How far back the gradient reaches", ylim=(1e-16, 10))
ax.legend(fontsize=8)
lesson.figure(fig, "gradient_vs_lag", caption="Gradient norm of the state at t with respect to the input at "
              "t-k, relative to k = 0 (log scale). Solid: trained on the text; dashed: at initialisation.", key=True)
lag_rows = []
for label, norms in curves.items():
    rel = norms / norms[0]
    lag_rows.append({"model": label, "k = 5": float(rel[5]), "k = 10": float(rel[10]), "k = 20": float(rel[20]),
                     "k = 40": float(rel[40])})
lesson.table(lag_rows, "gradient_vs_lag", caption="Relative gradient norm at a few lags.")
by_label = {r["model"]: r for r in lag_rows}
lesson.metric("RNN at init, gradient at lag 20 / lag 0", by_label["RNN, at init"]["k = 20"])
lesson.metric("LSTM at init, gradient at lag 20 / lag 0", by_label["LSTM, at init"]["k = 20"])
lesson.metric("LSTM forget bias +3, gradient at lag 20 / lag 0", by_label["LSTM, at init, forget bias +3"]["k = 20"])
lesson.metric("RNN trained, gradient at lag 20 / lag 0", by_label["RNN, trained"]["k = 20"])
lesson.metric("LSTM trained, gradient at lag 20 / lag 0", by_label["LSTM, trained"]["k = 20"])
names_by, text_by = {r["model"]: r["dev loss"] for r in names_rows}, {r["model"]: r["val loss"] for r in text_rows}
gated_names, gated_text = min(names_by["LSTM"], names_by["GRU"]), min(text_by["LSTM"], text_by["GRU"])
open_gate_20, rnn_20 = by_label["LSTM, at init, forget bias +3"]["k = 20"], by_label["RNN, at init"]["k = 20"]
lesson.point_shown(
    gated_names < names_by["RNN"] and gated_text < text_by["RNN"] and open_gate_20 > 100 * rnn_20,
    f"held-out loss on names: RNN {names_by['RNN']:.3f}, LSTM {names_by['LSTM']:.3f}, GRU {names_by['GRU']:.3f}; "
    f"on text: RNN {text_by['RNN']:.3f}, LSTM {text_by['LSTM']:.3f}, GRU {text_by['GRU']:.3f} "
    f"({names_rows[0]['steps']} / {text_rows[0]['steps']} updates each); gradient 20 steps back: "
    f"{rnn_20:.1e} of its size at 0 in the RNN, {open_gate_20:.2f} in the LSTM with its forget gate open"
    + ("" if text_by["LSTM"] < text_by["RNN"] else "; the LSTM, the slowest cell to get going, still trails the RNN "
       "on text at this many updates (256 wide, after 600 updates each, it led: 0.776 against 0.801)"))

# %% [markdown]
# ## 5. The claims, over seeds
#
# One run of each cell is one draw: another seed (another initialisation, another order of
# batches) lands a few hundredths of a nat away, about the size of the gaps above. So the
# claims are judged on every seed's run of this lesson, each difference paired by seed (the
# same seed's cells saw the same data); a claim is reproduced when the 95% interval of the
# difference lies on its side of zero (`minigrad_tutorials.seeds`). The n-grams are counts, the same in
# every seed: a recurrent model must beat the best of them on the same split.

# %%
seed_runs = lesson.seed_results()
stats = summarize(seed_runs)
for data_name, loss in (("names", "dev loss"), ("text", "val loss")):
    cells = {c: f"{data_name} {c} {loss}" for c in CELL_NAMES.values()}
    ngrams = {k[len(data_name) + 1:-len(loss) - 1]: k for k in seed_runs[0]
              if k.startswith(f"{data_name} Kneser-Ney") and k.endswith(loss)}
    best_ngram = min(ngrams, key=lambda name: stats[ngrams[name]].mean)
    worse_gated = estimate([max(r[cells["LSTM"]], r[cells["GRU"]]) - r[cells["RNN"]] for r in seed_runs])
    lesson.claim(f"{data_name}: LSTM and GRU below the RNN (held-out nats/char)",
                 {c: stats[k] for c, k in cells.items()}, test=worse_gated, direction="below",
                 test_name="max(LSTM, GRU) - RNN")
    lesson.claim(f"{data_name}: the RNN below the best n-gram",
                 {"RNN": stats[cells["RNN"]], best_ngram: stats[ngrams[best_ngram]]},
                 test=difference(seed_runs, cells["RNN"], ngrams[best_ngram]), direction="below",
                 test_name=f"RNN - {best_ngram}")

# %% [markdown]
# Read the plot from left to right: every curve starts at 1 (the input at step $t$ itself).
# The vanilla RNN's falls by orders of magnitude within a few steps: it cannot learn that a
# character 20 steps back matters, because no gradient tells it so. The LSTM at PyTorch's
# initialisation is not much better (its forget gate sits near 0.5), but open the gate and the
# gradient barely decays across the whole window: that is the constant error carousel, and
# it is why LSTMs (and GRUs, whose $z$ plays the same role) learn long-range structure such as
# matching quotes, line lengths and speaker names. Training moves each model towards whatever
# lags the data rewards.

# %%
lesson.finish()
