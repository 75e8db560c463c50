"""Fused ops (one node each): values against plain-numpy references, gradients against finite
differences, second derivatives (through each kernel's composite), and fused == composite."""
import numpy as np
import pytest
from engine_helpers import arrays, leaf, shapes
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck
from minigrad.ops import fused


# the functional forms, as nn.functional spells them (kept here so the engine tests stand alone)
def cross_entropy(x, target, weight=None, **kw):
    return fused.CrossEntropy.apply(x, target, weight, **kw)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    return fused.LayerNorm.apply(x, tuple(normalized_shape), weight, bias, eps=eps)


def embedding(idx, weight, padding_idx=None):
    return fused.Embedding.apply(weight, idx.data, padding_idx=padding_idx)


def linear(x, weight, bias=None):
    return fused.Linear.apply(x, weight, bias)


# -- plain numpy references, written from the formulas ------------------------------------
def softmax_ref(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def cross_entropy_ref(x, t, w=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """PyTorch's documented loss, one row at a time."""
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    rows_x = x.reshape(1, C) if x.ndim == 1 else np.moveaxis(x, 1, -1).reshape(-1, C)
    logp = np.log(softmax_ref(rows_x, 1))
    w = np.ones(C) if w is None else w
    eps = label_smoothing
    losses, denom = [], 0.0
    if t.dtype.kind == "f":  # class probabilities
        q = t.reshape(1, C) if x.ndim == 1 else np.moveaxis(t, 1, -1).reshape(-1, C)
        for i in range(len(rows_x)):
            qi = q[i] * (1 - eps) + eps / C
            losses.append(-np.sum(w * qi * logp[i]))
        denom = len(rows_x)
    else:
        for i, c in enumerate(t.reshape(-1)):
            if c == ignore_index:
                losses.append(0.0)
                continue
            losses.append(-(1 - eps) * w[c] * logp[i, c] - eps / C * np.sum(w * logp[i]))
            denom += w[c]
    losses = np.array(losses)
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / denom
    return losses.reshape(() if x.ndim == 1 else (x.shape[0],) + x.shape[2:])


def layer_norm_ref(a, k, w, b, eps=1e-5):
    dims = tuple(range(a.ndim - k, a.ndim))
    y = (a - a.mean(axis=dims, keepdims=True)) / np.sqrt(a.var(axis=dims, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def fused_matches_composite(op, args, kwargs, grad_positions, dtype=np.float64, tol=1e-10):
    """The one-node kernel and its composite (the same function from primitive ops) agree
    in value and in the gradient of a random projection of the output."""

    def fresh_inputs():
        inputs = []
        for i, a in enumerate(args):
            if i in grad_positions:
                a = mg.tensor(a.numpy(), dtype=dtype, requires_grad=True)
            elif isinstance(a, mg.Tensor) and a.dtype.kind == "f":
                a = a.type(dtype)  # class weights, probability targets: the logits' dtype
            inputs.append(a)
        return inputs

    results = []
    for fn in (op.apply, op.composite):
        inputs = fresh_inputs()
        out = fn(*inputs, **kwargs)
        proj = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
        (out * mg.tensor(proj)).sum().backward()
        results.append((out, [inputs[i].grad for i in grad_positions]))
    (a, ga), (b, gb) = results
    assert a.dtype == b.dtype == dtype
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)
    for x, y in zip(ga, gb):
        assert x.dtype == dtype
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=tol, atol=tol)


# -- softmax, log_softmax -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=20)
@given(data=st.data())
def test_softmax_log_softmax(name, data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape, lo=-5, hi=5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    fn = lambda x: getattr(x, name)(dim)  # noqa: E731
    ref = softmax_ref(a, dim)
    x = leaf(a)
    np.testing.assert_allclose(fn(x).numpy(), ref if name == "softmax" else np.log(ref), rtol=1e-10, atol=1e-12)
    assert gradcheck(fn, [x])
    if a.size <= 12:
        assert gradgradcheck(fn, [x])


# -- cross_entropy -------------------------------------------------------------------------
@st.composite
def cross_entropy_case(draw, max_rows=4):
    """logits (C,), (N, C) or (N, C, d); class indices with some ignored, or probabilities;
    optional class weights, any reduction, optional label smoothing."""
    C = draw(st.integers(2, 4))
    layout = draw(st.sampled_from(["C", "NC", "NCd"]))
    N, d = draw(st.integers(1, max_rows)), draw(st.integers(1, 3))
    shape = {"C": (C,), "NC": (N, C), "NCd": (N, C, d)}[layout]
    x = draw(arrays(shape, lo=-3, hi=3))
    kwargs = dict(
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
        label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.25])),
    )
    weight = draw(arrays((C,), lo=0.2, hi=2)) if draw(st.booleans()) else None
    if draw(st.booleans()):  # class probabilities
        target = softmax_ref(draw(arrays(shape, lo=-2, hi=2)), 0 if layout == "C" else 1)
    else:
        t_shape = {"C": (), "NC": (N,), "NCd": (N, d)}[layout]
        target = np.array(draw(arrays(t_shape, lo=0, hi=C - 0.01)), dtype=np.int64)
        ignore_index = draw(st.sampled_from([-100, 0]))
        if ignore_index == 0 and (target != 0).sum() == 0:
            ignore_index = -100  # keep at least one counted row, or the mean is 0/0
        kwargs["ignore_index"] = ignore_index
    return x, target, weight, kwargs


@settings(max_examples=25)
@given(case=cross_entropy_case())
def test_cross_entropy(case):
    a, target, weight, kwargs = case
    x, t = leaf(a), mg.tensor(target)
    w = mg.tensor(weight) if weight is not None else None
    fn = lambda x: cross_entropy(x, t, w, **kwargs)  # noqa: E731
    np.testing.assert_allclose(fn(x).numpy(), cross_entropy_ref(a, target, weight, **kwargs), rtol=1e-10, atol=1e-12)
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])
    fused_matches_composite(fused.CrossEntropy, [x, t, w], kwargs, [0])
    fused_matches_composite(fused.CrossEntropy, [x, t, w], kwargs, [0], dtype=np.float32, tol=1e-5)


@settings(max_examples=10)
@given(case=cross_entropy_case(max_rows=2))
def test_cross_entropy_gradient_with_respect_to_probability_targets(case):
    a, target, weight, kwargs = case
    if target.dtype.kind != "f":
        target = softmax_ref(a, 0 if a.ndim == 1 else 1)
        kwargs.pop("ignore_index")
    w = mg.tensor(weight) if weight is not None else None
    fn = lambda x, q: cross_entropy(x, q, w, **kwargs)  # noqa: E731
    assert gradcheck(fn, [leaf(a), leaf(target)])
    fused_matches_composite(fused.CrossEntropy, [leaf(a), leaf(target), w], kwargs, [0, 1])


def test_cross_entropy_refuses_a_gradient_for_class_weights():
    w = mg.ones(3, requires_grad=True)
    loss = cross_entropy(mg.zeros(2, 3, requires_grad=True), mg.tensor([0, 1]), w)
    with pytest.raises(RuntimeError, match="cross_entropy: not differentiable with respect to the class weights"):
        loss.backward()


def test_cross_entropy_hand_computed():
    """logits (0, ln 3) -> softmax (1/4, 3/4): loss of class 1 is ln(4/3), gradient p - onehot."""
    x = mg.tensor([[0.0, np.log(3.0)]], dtype=mg.float64, requires_grad=True)
    loss = cross_entropy(x, mg.tensor([1]))
    assert loss.item() == pytest.approx(np.log(4 / 3))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.25, -0.25]])


# -- layer_norm ----------------------------------------------------------------------------
@settings(max_examples=20)
@given(data=st.data())
def test_layer_norm(data):
    shape = data.draw(shapes(min_dims=1))
    k = data.draw(st.integers(1, len(shape)))
    norm_shape = shape[len(shape) - k:]
    a = data.draw(arrays(shape, "distinct"))
    w = data.draw(arrays(norm_shape)) if data.draw(st.booleans()) else None
    b = data.draw(arrays(norm_shape)) if data.draw(st.booleans()) else None
    tensors = [leaf(a)] + [leaf(v) for v in (w, b) if v is not None]

    def fn(x, *wb):
        wb = list(wb)
        weight = wb.pop(0) if w is not None else None
        bias = wb.pop(0) if b is not None else None
        return layer_norm(x, norm_shape, weight, bias)

    np.testing.assert_allclose(fn(*tensors).numpy(), layer_norm_ref(a, k, w, b), rtol=1e-9, atol=1e-10)
    assert gradcheck(fn, tensors, atol=1e-4)
    if a.size <= 12:
        assert gradgradcheck(fn, tensors, atol=1e-4)
    args = [tensors[0], norm_shape, leaf(w) if w is not None else None, leaf(b) if b is not None else None]
    grad_positions = [i for i in (0, 2, 3) if args[i] is not None]
    fused_matches_composite(fused.LayerNorm, args, {"eps": 1e-5}, grad_positions)
    fused_matches_composite(fused.LayerNorm, args, {"eps": 1e-5}, grad_positions, dtype=np.float32, tol=2e-4)


# -- embedding -----------------------------------------------------------------------------
@settings(max_examples=20)
@given(data=st.data())
def test_embedding(data):
    V, D = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    table = data.draw(arrays((V, D)))
    idx = np.array(data.draw(arrays(data.draw(shapes(max_dims=2)), lo=0, hi=V - 0.01)), dtype=np.int64)
    padding_idx = data.draw(st.none() | st.integers(0, V - 1))
    i = mg.tensor(idx)
    fn = lambda w: embedding(i, w, padding_idx)  # noqa: E731
    W = leaf(table)
    np.testing.assert_array_equal(fn(W).numpy(), table[idx])
    fn(W).sum().backward()
    counts = np.bincount(idx.reshape(-1), minlength=V).astype(float)  # repeated rows accumulate
    if padding_idx is not None:
        counts[padding_idx] = 0  # the padding row never learns
    np.testing.assert_array_equal(W.grad.numpy(), np.repeat(counts[:, None], D, axis=1))
    if padding_idx is None:  # with it, the padding row shapes the output but gets no gradient, by design
        assert gradcheck(fn, [leaf(table)])
        assert gradgradcheck(lambda w: fn(w) * fn(w), [leaf(table)])
    else:  # the second derivative (through the composite) also leaves the padding row alone
        W = leaf(table)
        (g,) = mg.autograd.grad((fn(W) ** 2).sum(), [W], create_graph=True)
        g.sum().backward()
        assert not W.grad.numpy()[padding_idx].any()
    fused_matches_composite(fused.Embedding, [leaf(table), idx], {"padding_idx": padding_idx}, [0])


# -- linear --------------------------------------------------------------------------------
@settings(max_examples=20)
@given(data=st.data())
def test_linear(data):
    batch = data.draw(shapes(max_dims=2, max_side=3))
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    a = data.draw(arrays(batch + (n_in,)))
    w = data.draw(arrays((n_out, n_in)))
    b = data.draw(arrays((n_out,)))
    x, W, B = leaf(a), leaf(w), leaf(b)
    np.testing.assert_allclose(linear(x, W, B).numpy(), a @ w.T + b, rtol=1e-12, atol=1e-12)
    assert gradcheck(linear, [x, W, B])
    assert gradcheck(lambda x, W: linear(x, W), [x, W])
    if a.size <= 6:
        assert gradgradcheck(lambda x, W, B: linear(x, W, B) ** 2, [x, W, B])


# -- numerical stability -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "cross_entropy", "cross_entropy_smoothed",
                                  "cross_entropy_probs", "logsumexp"])
def test_huge_logits_in_float32_give_finite_values_and_gradients(name):
    logits = mg.tensor([[1e4, -1e4, 0.0, 1e4 - 5], [-1e4, -1e4 + 1, -1e4, -1e4]], requires_grad=True)
    proj = mg.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, 1.0]])
    fn = {
        "softmax": lambda x: (x.softmax(-1) * proj).sum(),
        "log_softmax": lambda x: (x.log_softmax(-1) * proj).sum(),
        "cross_entropy": lambda x: cross_entropy(x, mg.tensor([1, 3])),
        "cross_entropy_smoothed": lambda x: cross_entropy(x, mg.tensor([1, 3]), label_smoothing=0.1),
        "cross_entropy_probs": lambda x: cross_entropy(x, mg.tensor([[0.5, 0.5, 0, 0], [0, 0, 0.25, 0.75]])),
        "logsumexp": lambda x: (x.logsumexp(dim=1) * mg.tensor([1.0, -2.0])).sum(),
    }[name]
    loss = fn(logits)
    assert loss.dtype == np.float32 and np.isfinite(loss.item())
    loss.backward()
    assert logits.grad.dtype == np.float32 and np.isfinite(logits.grad.numpy()).all()
    # and the values are right, not merely finite: compare with float64 on the same inputs
    x64 = mg.tensor(logits.numpy().astype(np.float64), requires_grad=True)
    fn64 = fn(x64)
    fn64.backward()
    assert loss.item() == pytest.approx(fn64.item(), rel=1e-5, abs=1e-3)
    np.testing.assert_allclose(logits.grad.numpy(), x64.grad.numpy(), rtol=1e-4, atol=1e-5)
