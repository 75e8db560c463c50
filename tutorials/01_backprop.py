# %% [markdown]
# # Lesson 1 — backprop from scratch: the chain rule by hand, by minigrad, and checked
#
# Training a network means nudging every number in it so that a loss goes down, and for
# that we need the derivative of the loss with respect to each number. Backpropagation
# computes all of them in one backward sweep, using nothing but the chain rule:
#
# $$\frac{\partial L}{\partial x} = \sum_{\text{uses } u \text{ of } x}
#   \frac{\partial L}{\partial u}\,\frac{\partial u}{\partial x}$$
#
# Each step of a computation only needs to know its own *local* derivative
# ($\partial u / \partial x$); the gradient arriving from above ($\partial L / \partial u$)
# is multiplied by it and passed down. Where a value is used twice, the two contributions add.
#
# 1. one small expression, differentiated by hand, one step at a time;
# 2. the same expression in minigrad: `loss.backward()` gets the same numbers;
# 3. the computation graph that backward walked;
# 4. checking gradients against finite differences (`gradcheck`), and watching it catch a
#    wrong derivative;
# 5. the same with tensors: one layer of a neural network, by hand in matrix form and by
#    minigrad, then a few steps of gradient descent with it.
#
# Run it as a script (`python tutorials/01_backprop.py [--fast]`) or open it as a notebook
# with jupytext. Figures go to out/01_backprop/ (or --out DIR).

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
from minigrad.autograd import Function
from minigrad_tutorials.report import Lesson

lesson = Lesson("01_backprop", "Backprop from scratch: the chain rule by hand, by minigrad, and checked",
                point="Backprop is the chain rule run backwards, one local derivative per op: minigrad's gradients "
                      "equal the ones worked by hand, and finite differences catch a wrong derivative.")

# %% [markdown]
# ## 1. One neuron, one loss, by hand
#
# A neuron with weight $w$ and bias $b$ reads an input $x$, squashes $w x + b$ with tanh,
# and is scored against a target $y$ by the squared error. A small penalty $\lambda w^2$
# (weight decay) uses $w$ a second time, so $w$ will collect gradient along two paths.
#
# $$L = (\tanh(w x + b) - y)^2 + \lambda w^2$$
#
# Written as a chain of single steps (the forward pass):
#
# | step | local derivatives |
# |---|---|
# | $u = w x$ | $\partial u/\partial w = x$, $\partial u/\partial x = w$ |
# | $z = u + b$ | $\partial z/\partial u = 1$, $\partial z/\partial b = 1$ |
# | $h = \tanh z$ | $\partial h/\partial z = 1 - h^2$ |
# | $r = h - y$ | $\partial r/\partial h = 1$ |
# | $s = r^2$ | $\partial s/\partial r = 2r$ |
# | $p = w^2$ | $\partial p/\partial w = 2w$ |
# | $L = s + \lambda p$ | $\partial L/\partial s = 1$, $\partial L/\partial p = \lambda$ |

# %%
x, w, b, y, lam = 1.5, -0.8, 0.4, 0.5, 0.1

u = w * x
z = u + b
h = math.tanh(z)
r = h - y
s = r * r
p = w * w
L = s + lam * p
lesson.say(f"forward:\n  u = w x          = {u:+.4f}\n  z = u + b        = {z:+.4f}\n  h = tanh z       = {h:+.4f}\n"
           f"  r = h - y        = {r:+.4f}\n  s = r^2          = {s:+.4f}\n  p = w^2          = {p:+.4f}\n"
           f"  L = s + lambda p = {L:+.6f}")

# %% [markdown]
# The backward pass starts from $\partial L/\partial L = 1$ and walks the steps in reverse.
# Every line is "gradient from above times local derivative"; the last one adds the two
# paths into $w$.

# %%
dL = 1.0
ds = dL * 1.0  # L = s + lambda p
dp = dL * lam
dr = ds * 2 * r  # s = r^2
dh = dr * 1.0  # r = h - y
dz = dh * (1 - h * h)  # h = tanh z
du = dz * 1.0  # z = u + b
db = dz * 1.0
dx = du * w  # u = w x
dw_through_u = du * x
dw_through_p = dp * 2 * w  # p = w^2
dw = dw_through_u + dw_through_p  # w is used twice: the contributions add

steps = [
    ("dL/ds", "dL/dL * 1", ds), ("dL/dp", "dL/dL * lambda", dp), ("dL/dr", "dL/ds * 2r", dr),
    ("dL/dh", "dL/dr * 1", dh), ("dL/dz", "dL/dh * (1 - h^2)", dz), ("dL/du", "dL/dz * 1", du),
    ("dL/db", "dL/dz * 1", db), ("dL/dx", "dL/du * w", dx), ("dL/dw (through u)", "dL/du * x", dw_through_u),
    ("dL/dw (through p)", "dL/dp * 2w", dw_through_p), ("dL/dw", "sum of both paths", dw),
]
lesson.say("\n".join(f"{name:18s} = {rule:20s} = {value:+.6f}" for name, rule, value in steps))
lesson.table([{"step": n, "rule": rl, "value": v} for n, rl, v in steps], "by_hand",
             caption="The backward pass by hand: each gradient is the one above times a local derivative.")

# %% [markdown]
# ## 2. The same in minigrad
#
# A `Tensor` with `requires_grad=True` records every op applied to it; `backward()` walks that
# record in reverse, doing exactly the steps above, and leaves $\partial L/\partial(\cdot)$ in
# each leaf's `.grad`. We write the same steps, name them, and ask minigrad to keep the
# gradients of the intermediate values too (`retain_grad()`; by default only leaves keep
# theirs), so that every line of the table above can be compared. float64, to compare to
# the last digit.


# %%
def named(t, name):
    t.name = name
    t.retain_grad()
    return t


xt, wt, bt = (mg.tensor(v, dtype=mg.float64, requires_grad=True, name=n) for v, n in ((x, "x"), (w, "w"), (b, "b")))
ut = named(wt * xt, "u")
zt = named(ut + bt, "z")
ht = named(zt.tanh(), "h")
rt = named(ht - y, "r")
st = named(rt**2, "s")
pt = named(wt**2, "p")
loss = named(st + lam * pt, "L")

# %% [markdown]
# ### The computation graph
#
# The cell below draws the graph that `loss` remembers, with each tensor's value and, after
# backward, its gradient. Ellipses are ops, boxes are tensors; $w$ has two arrows out of it,
# one per use, and its gradient is the sum of what comes back along both. (The graph is
# traced before backward, because backward frees what the ops kept.)

# %%
# ---- computation graph cell (minigrad.viz) --------------------------------------------------
from minigrad import viz


def draw(graph, name, caption, key=False, **options):
    """Save a drawing of the graph with the lesson (needs the `graphviz` Python package)."""
    try:
        picture = viz.draw_graph(graph, **options)
    except ImportError as e:
        lesson.say(f"({e})")
        return
    lesson.graph(picture, name, caption=caption, key=key)


neuron_graph = viz.trace(loss)
loss.backward()
draw(neuron_graph, "expression", "The neuron's loss, top to bottom: the value of every step and, after backward, "
     "its gradient; w feeds two ops, and its gradient is the sum of both.",
     show_values=True, show_grads=True, rankdir="TB", title="L = (tanh(w x + b) - y)^2 + 0.1 w^2", key=True)
lesson.say(viz.explain(neuron_graph))  # the same backward pass, as text
# ----------------------------------------------------------------------------------------------

# %%
by_minigrad = {"dL/ds": st.grad, "dL/dp": pt.grad, "dL/dr": rt.grad, "dL/dh": ht.grad, "dL/dz": zt.grad,
               "dL/du": ut.grad, "dL/db": bt.grad, "dL/dx": xt.grad, "dL/dw": wt.grad}
rows = [{"gradient": name, "by hand": value, "minigrad": by_minigrad[name].item(),
         "|difference|": abs(value - by_minigrad[name].item())} for name, _, value in steps if name in by_minigrad]
lesson.table(rows, "hand_vs_minigrad", caption="Every gradient of the hand-worked table, as minigrad computed it.")
ours = {"x": xt.grad.item(), "w": wt.grad.item(), "b": bt.grad.item()}
lesson.metric("scalar: loss", loss.item())
lesson.metric("scalar: max |hand - minigrad|", max(r["|difference|"] for r in rows))


# %% [markdown]
# The same loss as one function of its inputs, for the checks below:


# %%
def neuron_loss(x, w, b):
    return ((w * x + b).tanh() - y) ** 2 + lam * w**2


# %% [markdown]
# ## 3. Checking gradients: finite differences
#
# A derivative is a limit of slopes, so we can *measure* one: nudge an input by $\pm\epsilon$
# and watch the output,
#
# $$\frac{\partial L}{\partial w} \approx \frac{L(w + \epsilon) - L(w - \epsilon)}{2\epsilon}.$$
#
# The central difference is off by $O(\epsilon^2)$ (about $10^{-12}$ here) plus rounding,
# about $10^{-16}/\epsilon = 10^{-10}$ in float64. In float32 the rounding term would be
# $10^{-7}/\epsilon = 0.1$ and drown the slope: always gradcheck in float64.

# %%
eps = 1e-6
rows = []
nudged = {  # input -> (the inputs with it nudged up, ... nudged down)
    "x": ((x + eps, w, b), (x - eps, w, b)),
    "w": ((x, w + eps, b), (x, w - eps, b)),
    "b": ((x, w, b + eps), (x, w, b - eps)),
}
for k, (up, down) in nudged.items():
    plus = neuron_loss(*(mg.tensor(v, dtype=mg.float64) for v in up)).item()
    minus = neuron_loss(*(mg.tensor(v, dtype=mg.float64) for v in down)).item()
    numeric = (plus - minus) / (2 * eps)
    rows.append({"input": k, "backprop": ours[k], "finite difference": numeric, "|difference|": abs(ours[k] - numeric)})
lesson.table(rows, "finite_differences", caption="Backprop against central differences (eps = 1e-6, float64).")
lesson.metric("scalar: max |backprop - finite difference|", max(r["|difference|"] for r in rows))

# `gradcheck` does the same for every input element at once (the whole Jacobian)
ok = mg.gradcheck(neuron_loss, [mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in (x, w, b)])
lesson.say(f"gradcheck(neuron_loss, (x, w, b)) -> {ok}")
lesson.metric("scalar: gradcheck passed", bool(ok))

# %% [markdown]
# ### gradcheck catches a wrong derivative
#
# Here is tanh written as a minigrad op, the way every op in `minigrad/ops/` is written:
# `forward` on arrays, `backward` turning the gradient from above into the gradient below.
# Its backward has a typical slip: $1 - h$ instead of $1 - h^2$. Nothing crashes, training
# would even run; only a check against finite differences shows the numbers are wrong.


# %%
class SloppyTanh(Function):
    """y = tanh(x), with a WRONG derivative: 1 - y instead of 1 - y**2."""

    def forward(ctx, x):
        ctx.save_output()
        return np.tanh(x)

    def backward(ctx, gy):
        return gy * (1 - ctx.output)  # the slip


def sloppy_neuron_loss(x, w, b):
    return (SloppyTanh.apply(w * x + b) - y) ** 2 + lam * w**2


try:
    mg.gradcheck(sloppy_neuron_loss, [mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in (x, w, b)])
    caught = False
except AssertionError as e:
    caught = True
    lesson.say(f"gradcheck on the sloppy tanh: {e}")
lesson.metric("scalar: gradcheck caught the wrong derivative", caught)

# %% [markdown]
# ## 4. The same with tensors: one layer of a network
#
# A layer maps a batch of $N$ inputs with $D$ features to $H$ outputs:
#
# $$Z = X W + b, \qquad Y = \tanh Z, \qquad L = \frac{1}{N H} \sum_{n,j} (Y_{nj} - T_{nj})^2$$
#
# The chain rule is the same, written for whole matrices. Each step's rule keeps the shapes
# right: a gradient always has the shape of the thing it is the gradient of.
#
# | step | backward |
# |---|---|
# | $L = \mathrm{mean}((Y - T)^2)$ | $\partial L/\partial Y = 2 (Y - T) / (N H)$ |
# | $Y = \tanh Z$ | $\partial L/\partial Z = \partial L/\partial Y \odot (1 - Y^2)$ (elementwise) |
# | $Z = X W + b$ | $\partial L/\partial W = X^\top\, \partial L/\partial Z$ (D x H) |
# | | $\partial L/\partial b = \sum_n \partial L/\partial Z_{n\cdot}$ (b was broadcast over the rows: its gradient is summed over them) |
# | | $\partial L/\partial X = \partial L/\partial Z\, W^\top$ (N x D) |

# %%
rng = np.random.default_rng(0)
N, D, H = 8, 3, 2
X_np = rng.standard_normal((N, D))
T_np = np.tanh(X_np @ np.array([[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4]]) + np.array([0.2, -0.1]))  # a teacher layer
W_np = 0.5 * rng.standard_normal((D, H))
b_np = np.zeros(H)

# by hand, in numpy
Z_np = X_np @ W_np + b_np
Y_np = np.tanh(Z_np)
dY = 2 * (Y_np - T_np) / (N * H)
dZ = dY * (1 - Y_np**2)
hand_layer = {"W": X_np.T @ dZ, "b": dZ.sum(axis=0), "X": dZ @ W_np.T}

# by minigrad
X, W, bias = (mg.tensor(a, requires_grad=True, name=n) for a, n in ((X_np, "X"), (W_np, "W"), (b_np, "b")))
T = mg.tensor(T_np, name="T")


def layer_loss(X, W, bias):
    return (((X @ W + bias).tanh() - T) ** 2).mean()


layer = layer_loss(X, W, bias)
layer_graph = viz.trace(layer)
layer.backward()
ours_layer = {"W": W.grad.numpy(), "b": bias.grad.numpy(), "X": X.grad.numpy()}
for k in ("W", "b", "X"):
    lesson.say(f"dL/d{k} {hand_layer[k].shape}: max |hand - minigrad| = {np.abs(hand_layer[k] - ours_layer[k]).max():.2e}")
lesson.metric("layer: max |hand - minigrad|", max(float(np.abs(hand_layer[k] - ours_layer[k]).max()) for k in hand_layer))
draw(layer_graph, "layer", "The layer: the bias is broadcast over the batch, so backward sums its gradient back.",
     show_grads=True, rankdir="TB", title="one tanh layer and its loss")

ok = mg.gradcheck(layer_loss, [mg.tensor(a, requires_grad=True) for a in (X_np, W_np, b_np)])
lesson.say(f"gradcheck(layer_loss, (X, W, b)) -> {ok}")
lesson.metric("layer: gradcheck passed", bool(ok))

# %% [markdown]
# ### Gradients at work: a few steps of gradient descent
#
# The gradient points uphill; stepping the parameters a little the other way lowers the
# loss. This is all that training is: forward, backward, step, repeat. The layer learns to
# imitate the teacher layer that made the targets.

# %%
W = mg.tensor(W_np.astype(np.float32), requires_grad=True)
bias = mg.tensor(b_np.astype(np.float32), requires_grad=True)
X32, T = mg.tensor(X_np.astype(np.float32)), mg.tensor(T_np.astype(np.float32))
n_steps = 60 if lesson.fast else 300
losses = []
t0 = time.perf_counter()
for _ in range(n_steps):
    loss = (((X32 @ W + bias).tanh() - T) ** 2).mean()
    W.grad = bias.grad = None
    loss.backward()
    with mg.no_grad():  # the update itself is not part of the model: record no graph
        W.sub_(W.grad * 0.5)
        bias.sub_(bias.grad * 0.5)
    losses.append(loss.item())
lesson.metric("descent: first loss", losses[0])
lesson.metric("descent: last loss", losses[-1])
lesson.trained("tanh layer, gradient descent", n_steps, time.perf_counter() - t0)

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("gradient descent on one tanh layer")
lesson.figure(fig, "descent", caption="The loss falls as the layer follows its gradient.")

# %% [markdown]
# ## 5. The gradient is a function too
#
# minigrad writes every backward with the same tensor ops as the forward, so the backward
# pass can itself be recorded and differentiated (`create_graph=True`): second derivatives,
# Hessian-vector products, gradient penalties. For $h = \tanh z$:
# $h' = 1 - h^2$ and $h'' = -2 h (1 - h^2)$.

# %%
z_in = mg.tensor(z, dtype=mg.float64, requires_grad=True)
(first,) = mg.autograd.grad(z_in.tanh(), [z_in], create_graph=True)
(second,) = mg.autograd.grad(first, [z_in])
lesson.say(f"tanh'(z)  = {first.item():+.12f}   (1 - h^2      = {1 - h * h:+.12f})")
lesson.say(f"tanh''(z) = {second.item():+.12f}   (-2h(1 - h^2) = {-2 * h * (1 - h * h):+.12f})")
lesson.metric("second derivative: |minigrad - formula|", abs(second.item() + 2 * h * (1 - h * h)))
worst = max(lesson.metrics["scalar: max |hand - minigrad|"], lesson.metrics["layer: max |hand - minigrad|"])
lesson.point_shown(worst < 1e-5 and lesson.metrics["scalar: gradcheck passed"] and caught,
                   f"hand and minigrad agree to {worst:.1e} on the neuron and the layer, gradcheck passes, "
                   f"and it {'caught' if caught else 'missed'} the wrong tanh derivative")

# %% [markdown]
# ## What to remember
#
# - Backprop is the chain rule applied in reverse order, one local derivative per op;
#   contributions from several uses of a value add up.
# - A framework only has to know each op's local derivative; it records the graph while
#   computing forward and walks it backwards.
# - A wrong derivative does not crash anything. Check new ops against finite differences,
#   in float64: `minigrad.gradcheck` (and `gradgradcheck` for second derivatives).

# %%
lesson.finish()
