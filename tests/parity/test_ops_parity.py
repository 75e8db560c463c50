"""Every differentiable op against PyTorch on the same float64 inputs: values, gradients and
(for a selection) second derivatives agree to 1e-6. Hypothesis draws shapes and values, and
random compositions of ops."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch: pip install 'torch==2.13.0'")

import torch.nn.functional as TF  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import autograd  # noqa: E402
from minigrad.ops import fused  # noqa: E402

TOL = dict(rtol=1e-6, atol=1e-6)


class Lib:
    """The few spellings that differ between the two libraries; everything else is shared."""

    def __init__(self, name):
        self.name = name
        self.torch = name == "torch"

    def tensor(self, a, requires_grad=False):
        if self.torch:
            return torch.tensor(a, dtype=torch.float64 if a.dtype.kind == "f" else None, requires_grad=requires_grad)
        return mg.tensor(a, requires_grad=requires_grad)

    def where(self, c, x, y):
        return (torch if self.torch else mg).where(c, x, y)

    def cat(self, xs, dim):
        return (torch if self.torch else mg).cat(xs, dim)

    def stack(self, xs, dim):
        return (torch if self.torch else mg).stack(xs, dim)

    def pad(self, x, pad, value):
        return TF.pad(x, pad, value=value) if self.torch else x.pad(pad, value)

    def cross_entropy(self, x, t, w=None, **kw):
        return TF.cross_entropy(x, t, w, **kw) if self.torch else fused.CrossEntropy.apply(x, t, w, **kw)

    def layer_norm(self, x, shape, w=None, b=None):
        return TF.layer_norm(x, shape, w, b) if self.torch else fused.LayerNorm.apply(x, tuple(shape), w, b)

    def embedding(self, idx, w, padding_idx=None):
        if self.torch:
            return TF.embedding(idx, w, padding_idx=padding_idx)
        return fused.Embedding.apply(w, idx.data, padding_idx=padding_idx)

    def linear(self, x, w, b=None):
        return TF.linear(x, w, b) if self.torch else fused.Linear.apply(x, w, b)

    def gelu(self, x, approximate):
        return TF.gelu(x, approximate=approximate) if self.torch else x.gelu(approximate)


MG, TORCH = Lib("minigrad"), Lib("torch")


def _numpy(t):
    return t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.numpy()


def compare(fn, arrays, differentiable=None, second_order=False):
    """Run fn(lib, *tensors) in both libraries on the same float64 arrays and compare the
    values, the gradients of a fixed random projection of the output, and optionally the
    second derivative along a random direction (a Hessian-vector product)."""
    differentiable = [a.dtype.kind == "f" for a in arrays] if differentiable is None else differentiable
    results = {}
    for lib in (MG, TORCH):
        xs = [lib.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
        out = fn(lib, *xs)
        proj = lib.tensor(np.asarray(np.random.default_rng(7).standard_normal(tuple(out.shape))))
        loss = (out * proj).sum()
        wrt = [x for x, d in zip(xs, differentiable) if d]
        grad_fn = torch.autograd.grad if lib.torch else autograd.grad
        grads = grad_fn(loss, wrt, create_graph=second_order, allow_unused=True)
        second = []
        if second_order:
            dirs = [lib.tensor(np.asarray(np.random.default_rng(8 + i).standard_normal(tuple(w.shape))))
                    for i, w in enumerate(wrt)]
            gv = sum((g * v).sum() for g, v in zip(grads, dirs) if g is not None)
            # a gradient that does not depend on the inputs (a linear op) has no second derivative
            second = grad_fn(gv, wrt, allow_unused=True) if getattr(gv, "requires_grad", False) else [None] * len(wrt)
        results[lib.name] = (out, grads, second)
    (o1, g1, s1), (o2, g2, s2) = results["minigrad"], results["torch"]
    assert tuple(o1.shape) == tuple(o2.shape)
    np.testing.assert_allclose(_numpy(o1), _numpy(o2), **TOL)
    for a, b in list(zip(g1, g2)) + list(zip(s1, s2)):
        if a is None or b is None:  # one library saw no path: the other's gradient must be zero
            rest = b if a is None else a  # (within the tolerance: torch's prod of one value gives 7e-18)
            assert rest is None or np.all(np.abs(_numpy(rest)) <= TOL["atol"]), \
                "one library found a gradient the other did not"
            continue
        np.testing.assert_allclose(_numpy(a), _numpy(b), **TOL)


def floats(shape, lo=-2.0, hi=2.0, unique=False):
    if unique:  # spaced values: no ties (tie rules are tested on purpose, below)
        return hnp.arrays(np.float64, shape, elements=st.integers(-40, 40).map(lambda k: k / 10 + 0.05), unique=True)
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_subnormal=False))


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4).map(lambda b: b.input_shapes)

UNARY = {  # name -> (fn(lib, x), (lo, hi))
    "neg": (lambda lib, x: -x, (-2, 2)), "exp": (lambda lib, x: x.exp(), (-2, 2)),
    "log": (lambda lib, x: x.log(), (0.2, 3)), "sqrt": (lambda lib, x: x.sqrt(), (0.2, 3)),
    "rsqrt": (lambda lib, x: x.rsqrt(), (0.2, 3)), "abs": (lambda lib, x: x.abs(), (-2, 2)),
    "sin": (lambda lib, x: x.sin(), (-3, 3)), "cos": (lambda lib, x: x.cos(), (-3, 3)),
    "tanh": (lambda lib, x: x.tanh(), (-3, 3)), "sigmoid": (lambda lib, x: x.sigmoid(), (-5, 5)),
    "relu": (lambda lib, x: x.relu(), (-2, 2)), "erf": (lambda lib, x: x.erf(), (-2, 2)),
    "gelu": (lambda lib, x: lib.gelu(x, "none"), (-3, 3)), "gelu_tanh": (lambda lib, x: lib.gelu(x, "tanh"), (-3, 3)),
    "clamp": (lambda lib, x: x.clamp(-0.5, 0.7), (-2, 2)), "square": (lambda lib, x: x.square(), (-2, 2)),
    "pow_scalar": (lambda lib, x: x**3 + x**2.5, (0.2, 2)), "rpow": (lambda lib, x: 2.0**x, (-2, 2)),
    "scalar_arith": (lambda lib, x: (1.5 - x) * 3 / 2 + 1 - 2.0 / (x + 3), (-2, 2)),
    "masked_fill": (lambda lib, x: x.masked_fill(x > 0.3, -1.0), (-2, 2)),
    "softmax": (lambda lib, x: x.softmax(-1), (-3, 3)), "log_softmax": (lambda lib, x: x.log_softmax(0), (-3, 3)),
}

BINARY = {
    "add": (lambda lib, x, y: x + y, (-2, 2)), "sub": (lambda lib, x, y: x - y, (-2, 2)),
    "mul": (lambda lib, x, y: x * y, (-2, 2)), "div": (lambda lib, x, y: x / y, (0.3, 2)),
    "pow": (lambda lib, x, y: x**y, (0.3, 2)), "maximum": (lambda lib, x, y: x.maximum(y), (-2, 2)),
    "minimum": (lambda lib, x, y: x.minimum(y), (-2, 2)), "where": (lambda lib, x, y: lib.where(x > y, x * 2, y), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=10)
@given(data=st.data())
def test_unary_ops(name, data):
    fn, (lo, hi) = UNARY[name]
    compare(fn, [data.draw(floats(data.draw(shapes), lo, hi))], second_order=True)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=10)
@given(data=st.data())
def test_binary_ops_with_broadcasting(name, data):
    fn, (lo, hi) = BINARY[name]
    sx, sy = data.draw(pairs)
    compare(fn, [data.draw(floats(sx, lo, hi)), data.draw(floats(sy, lo, hi))], second_order=True)


def test_elementwise_ties_and_kinks_follow_pytorch():
    """maximum/minimum split ties in half; relu'(0) = 0; |x|'(0) = 0; clamp passes at a bound."""
    a = np.array([0.0, 1.0, -0.5, 0.7, 2.0])
    b = np.array([0.0, 1.0, 3.0, 0.7, -1.0])
    compare(lambda lib, x, y: x.maximum(y) + 3 * x.minimum(y) + x.relu() + x.abs() + x.clamp(-0.5, 0.7), [a, b])


@st.composite
def reduce_args(draw):
    shape = draw(shapes)
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1) | st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return shape, dim, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std", "max_dim", "min_dim"])
@settings(max_examples=15)
@given(args=reduce_args(), correction=st.integers(0, 2), data=st.data())
def test_reductions(name, args, correction, data):
    shape, dim, keepdim = args
    if name in ("max_dim", "min_dim"):
        dim = dim if isinstance(dim, int) else dim[0]
    n = int(np.prod([shape[d] for d in np.atleast_1d(dim)]))
    if name in ("var", "std") and n <= max(correction, 1):
        return  # no estimate; std of one value has no slope
    a = data.draw(floats(shape, unique=True))
    fn = {
        "sum": lambda lib, x: x.sum(dim, keepdim=keepdim), "mean": lambda lib, x: x.mean(dim, keepdim=keepdim),
        "amax": lambda lib, x: x.amax(dim, keepdim=keepdim), "amin": lambda lib, x: x.amin(dim, keepdim=keepdim),
        "logsumexp": lambda lib, x: x.logsumexp(dim, keepdim=keepdim),
        "var": lambda lib, x: x.var(dim, keepdim=keepdim, correction=correction),
        "std": lambda lib, x: x.std(dim, keepdim=keepdim, correction=correction),
        "max_dim": lambda lib, x: x.max(dim, keepdim).values * 2 + x.max(dim, keepdim).indices,
        "min_dim": lambda lib, x: x.min(dim, keepdim).values,
    }[name]
    compare(fn, [a], second_order=True)


def test_max_min_tie_rules_match_pytorch():
    """amax/amin and full reductions split the gradient evenly between ties (torch.amax, torch.max());
    max(dim)/min(dim) give it all to the index they return (torch.max(dim))."""
    a = np.array([[3.0, 1.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [0.0, 0.0, 5.0, 5.0]])
    for fn in (
        lambda lib, x: x.amax(dim=1), lambda lib, x: x.amin(dim=0), lambda lib, x: x.amax(dim=(0, 1)),
        lambda lib, x: x.max().reshape(1), lambda lib, x: x.min().reshape(1),
        lambda lib, x: x.max(dim=1).values, lambda lib, x: x.min(dim=1).values, lambda lib, x: x.max(0, True).values,
    ):
        compare(fn, [a])


def test_var_std_default_and_unbiased_flags():
    a = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    compare(lambda lib, x: x.var() + x.std(dim=1) + x.var(0, unbiased=False) .sum() + x.std(unbiased=True), [a])


@st.composite
def shape_case(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4))
    return shape, draw(floats(shape))


@pytest.mark.parametrize("name", ["reshape", "permute", "transpose", "expand", "squeeze_unsqueeze", "flatten",
                                  "cat", "stack", "split", "chunk", "pad", "tril", "triu", "getitem", "gather",
                                  "index_select", "repeat", "movedim"])
@settings(max_examples=8)
@given(case=shape_case(), data=st.data())
def test_shape_ops(name, case, data):
    shape, a = case
    n0 = shape[0]
    idx = np.array(data.draw(st.lists(st.integers(0, n0 - 1), min_size=1, max_size=5)))
    gidx = np.array(data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, shape[1] - 1))))
    fn = {
        "reshape": lambda lib, x: x.reshape(-1, shape[-1]) * 2,
        "permute": lambda lib, x: x.permute(*reversed(range(len(shape)))),
        "transpose": lambda lib, x: x.transpose(0, -1),
        "expand": lambda lib, x: x[:1].expand(3, *shape[1:]),
        "squeeze_unsqueeze": lambda lib, x: x.unsqueeze(1).squeeze(1).unsqueeze(-1),
        "flatten": lambda lib, x: x.flatten(1),
        "cat": lambda lib, x: lib.cat([x, x * 2, x[:1]], 0),
        "stack": lambda lib, x: lib.stack([x, x.exp()], 1),
        "split": lambda lib, x: x.split(2, dim=0)[-1],
        "chunk": lambda lib, x: x.chunk(2, dim=1)[0],
        "pad": lambda lib, x: lib.pad(x, (1, 2, 0, 1), 0.5),
        "tril": lambda lib, x: x.tril(-1), "triu": lambda lib, x: x.triu(1),
        "getitem": lambda lib, x: x[lib.tensor(idx)][:, 1:] * 2 + x[x > 0.5].sum() + x[..., None, -1].sum(),
        "gather": lambda lib, x: x.gather(1, lib.tensor(gidx)),
        "index_select": lambda lib, x: x.index_select(0, lib.tensor(idx)),
        "repeat": lambda lib, x: x.repeat(2, 1, *([1] * (len(shape) - 2))),
        "movedim": lambda lib, x: x.movedim(0, -1),
    }[name]
    compare(fn, [a], second_order=name in ("gather", "getitem", "index_select", "pad", "cat"))


def test_differentiable_setitem_matches_pytorch():
    a, v = np.arange(12.0).reshape(3, 4) / 7, np.array([0.5, -1.0, 2.0, 0.25])

    def fn(lib, x, v):
        y = x * 2
        y[1] = v * 3
        y[:, 0] = y[:, 1] * 0.5
        return y * x

    compare(fn, [a, v])


@settings(max_examples=15)
@given(data=st.data())
def test_matmul(data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    bx, by = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3).map(lambda b: b.input_shapes))
    sx = (k,) if data.draw(st.booleans()) else bx + (n, k)
    sy = (k,) if data.draw(st.booleans()) else by + (k, m)
    compare(lambda lib, x, y: x @ y, [data.draw(floats(sx)), data.draw(floats(sy))], second_order=True)


# -- fused ops ------------------------------------------------------------------------------
@st.composite
def cross_entropy_case(draw):
    C = draw(st.integers(2, 5))
    layout = draw(st.sampled_from(["C", "NC", "NCd"]))
    N, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    shape = {"C": (C,), "NC": (N, C), "NCd": (N, C, d)}[layout]
    x = draw(floats(shape, -3, 3))
    kw = dict(reduction=draw(st.sampled_from(["mean", "sum", "none"])),
              label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.3])))
    weight = draw(floats((C,), 0.2, 2)) if draw(st.booleans()) else None
    probs = draw(st.booleans())
    if probs:
        logits = draw(floats(shape, -2, 2))
        e = np.exp(logits - logits.max(axis=0 if layout == "C" else 1, keepdims=True))
        target = e / e.sum(axis=0 if layout == "C" else 1, keepdims=True)
    else:
        t_shape = {"C": (), "NC": (N,), "NCd": (N, d)}[layout]
        target = draw(hnp.arrays(np.int64, t_shape, elements=st.integers(0, C - 1)))
        kw["ignore_index"] = draw(st.sampled_from([-100, 0, C - 1]))
        if (target != kw["ignore_index"]).sum() == 0:
            kw["ignore_index"] = -100
    return x, target, weight, kw


@settings(max_examples=40)
@given(case=cross_entropy_case())
def test_cross_entropy(case):
    x, target, weight, kw = case
    arrays = [x, target] + ([weight] if weight is not None else [])
    differentiable = [True, target.dtype.kind == "f"] + ([False] if weight is not None else [])

    def fn(lib, x, t, *w):
        return lib.cross_entropy(x, t, w[0] if w else None, **kw)

    compare(fn, arrays, differentiable, second_order=True)


@settings(max_examples=15)
@given(data=st.data())
def test_layer_norm(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    k = data.draw(st.integers(1, len(shape)))
    norm = shape[len(shape) - k:]
    affine = data.draw(st.booleans())
    arrays = [data.draw(floats(shape))] + ([data.draw(floats(norm)), data.draw(floats(norm))] if affine else [])
    compare(lambda lib, x, *wb: lib.layer_norm(x, norm, *wb), arrays, second_order=True)


@settings(max_examples=15)
@given(data=st.data())
def test_embedding_with_and_without_padding_idx(data):
    V, D = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    idx = data.draw(hnp.arrays(np.int64, data.draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
                               elements=st.integers(0, V - 1)))
    padding_idx = data.draw(st.none() | st.integers(0, V - 1))
    compare(lambda lib, w, i: lib.embedding(i, w, padding_idx), [data.draw(floats((V, D))), idx],
            second_order=True)


@settings(max_examples=10)
@given(data=st.data())
def test_linear(data):
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    arrays = [data.draw(floats(batch + (n_in,))), data.draw(floats((n_out, n_in))), data.draw(floats((n_out,)))]
    compare(lambda lib, x, w, b: lib.linear(x, w, b), arrays, second_order=True)


# -- compositions ---------------------------------------------------------------------------
STEPS = {  # each keeps the shape (B, D) and the values bounded
    "tanh": lambda lib, h, y, W: h.tanh(), "sigmoid": lambda lib, h, y, W: h.sigmoid() * 2 - 1,
    "sin": lambda lib, h, y, W: h.sin(), "gelu": lambda lib, h, y, W: lib.gelu(h, "tanh"),
    "relu": lambda lib, h, y, W: h.relu() - 0.1, "mul": lambda lib, h, y, W: h * y,
    "add": lambda lib, h, y, W: h + y, "sub_mean": lambda lib, h, y, W: h - h.mean(-1, keepdim=True),
    "matmul": lambda lib, h, y, W: h @ W, "softmax": lambda lib, h, y, W: h.softmax(-1) * 3,
    "log_softmax": lambda lib, h, y, W: h.log_softmax(-1) * 0.2, "maximum": lambda lib, h, y, W: h.maximum(y),
    "layer_norm": lambda lib, h, y, W: lib.layer_norm(h, (h.shape[-1],)),
    "where": lambda lib, h, y, W: lib.where(h > 0, h, y * 0.5), "square": lambda lib, h, y, W: h * h * 0.5,
    "lse": lambda lib, h, y, W: h - h.logsumexp(-1, keepdim=True) * 0.3,
    "amax": lambda lib, h, y, W: h * h.amax(0, keepdim=True).tanh(), "exp": lambda lib, h, y, W: (h * 0.5).exp() - 1,
}


@settings(max_examples=25)
@given(steps=st.lists(st.sampled_from(sorted(STEPS)), min_size=2, max_size=7), B=st.integers(1, 3),
       D=st.integers(2, 4), data=st.data())
def test_random_compositions(steps, B, D, data):
    arrays = [data.draw(floats((B, D), -1, 1)), data.draw(floats((B, D), -1, 1)), data.draw(floats((D, D), -1, 1))]

    def fn(lib, x, y, W):
        h = x
        for s in steps:
            h = STEPS[s](lib, h, y, W)
        return h

    compare(fn, arrays, second_order=True)


def test_hessian_vector_product_of_a_small_mlp():
    rng = np.random.default_rng(0)
    X, T = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    params = [rng.standard_normal(s) for s in [(4, 3), (4,), (2, 4), (2,)]]
    vs = [rng.standard_normal(p.shape) for p in params]

    def loss(lib, W1, b1, W2, b2):
        h = lib.gelu(lib.linear(lib.tensor(X), W1, b1), "tanh")
        logits = lib.linear(h.tanh(), W2, b2)
        return lib.cross_entropy(logits, lib.tensor(T), label_smoothing=0.1)

    _, hvp_torch = torch.autograd.functional.hvp(
        lambda *ps: loss(TORCH, *ps), tuple(torch.tensor(p) for p in params), tuple(torch.tensor(v) for v in vs))
    ps = [mg.tensor(p, requires_grad=True) for p in params]
    grads = autograd.grad(loss(MG, *ps), ps, create_graph=True)
    hvp_ours = autograd.grad(sum((g * mg.tensor(v)).sum() for g, v in zip(grads, vs)), ps)
    for a, b in zip(hvp_ours, hvp_torch):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)
