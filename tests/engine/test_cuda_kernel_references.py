"""The fused CUDA kernels' references against the ops' composites, and the ops' kernel paths, on the CPU.

Each kernel in minigrad/ops/cuda_*.py has a reference: the same computation as array operations.
Here each reference is checked against an independent answer, the readable composite written with
Tensor ops (its value, and autograd's gradient of it), in float64. On a GPU,
tests/device/test_cuda_kernels.py checks each kernel against its reference; together they tie each
kernel to the composite.

Second, `cuda_kernels.references()` sends every op down its kernel path with the references in the
kernels' place: the dispatch, the arrays each op keeps for backward and the loops around the cell
kernels run here, and must give what the array path gives (GPT, LSTM, GRU, cross-entropy, layer
norm, attention, AdamW, second derivatives through the composites).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F
from minigrad.ops.attention import _attention_weights_composite, causal_bias
from minigrad.ops.recurrent import gru_step, lstm_step
from minigrad.ops import cuda_kernels, cuda_pointwise, cuda_rows
from minigrad.ops._util import const
from minigrad.ops.fused import CrossEntropy, LayerNorm
from minigrad_models.gpt import GPT, GPTConfig

TOL = dict(rtol=1e-10, atol=1e-12)


def rng(seed=0):
    return np.random.default_rng(seed)


def leaf(a):
    return mg.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def grads_of(out, upstream, *leaves):
    """autograd's gradients of sum(out * upstream) with respect to the leaves."""
    (out * mg.tensor(upstream)).sum().backward()
    return [t.grad.numpy() for t in leaves]


# -- each reference against the composite ------------------------------------------------------------------
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_reference_is_the_gelu_formula_and_its_derivative(approximate):
    x = rng().standard_normal(200) * 3
    gy = rng(1).standard_normal(200)
    t = leaf(x)
    if approximate == "tanh":
        y = 0.5 * t * (1 + (math.sqrt(2 / math.pi) * (t + 0.044715 * t * t * t)).tanh())
    else:
        y = t * 0.5 * (1 + (t / math.sqrt(2)).erf())
    (gx,) = grads_of(y, gy, t)
    np.testing.assert_allclose(cuda_pointwise.gelu_reference(x, approximate), y.numpy(), **TOL)
    np.testing.assert_allclose(cuda_pointwise.gelu_backward_reference(x, gy, approximate), gx, **TOL)


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_reference_matches_the_composite_and_its_gradients(affine):
    N, C = 6, 11
    x, gy = rng().standard_normal((N, C)) * 2 + 1, rng(1).standard_normal((N, C))
    w = rng(2).standard_normal(C) if affine != "none" else None
    b = rng(3).standard_normal(C) if affine == "both" else None
    tx, tw, tb = leaf(x), (leaf(w) if w is not None else None), (leaf(b) if b is not None else None)
    y = LayerNorm.composite(tx, (C,), tw, tb, eps=1e-5)
    grads = grads_of(y, gy, *[t for t in (tx, tw, tb) if t is not None])
    ref_y, mean, rstd = cuda_rows.layer_norm_forward_reference(x, w, b, 1e-5)
    np.testing.assert_allclose(ref_y, y.numpy(), **TOL)
    np.testing.assert_allclose(mean, x.mean(axis=1), **TOL)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(x.var(axis=1) + 1e-5), **TOL)
    gx, gw, gb = cuda_rows.layer_norm_backward_reference(x, w, gy, mean, rstd, True)
    np.testing.assert_allclose(gx, grads[0], **TOL)
    if w is not None:
        np.testing.assert_allclose(gw, grads[1], **TOL)
    if b is not None:
        np.testing.assert_allclose(gb, grads[2], **TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_reference_matches_the_composite_and_its_gradient(reduction, weighted):
    N, C = 9, 7
    x = rng().standard_normal((N, C)) * 3
    target = rng(1).integers(0, C, N)
    target[[2, 5]] = -100  # ignored rows
    weight = rng(2).random(C) + 0.5 if weighted else None
    tx = leaf(x)
    loss = CrossEntropy.composite(tx, mg.tensor(target), mg.tensor(weight) if weighted else None, reduction=reduction)
    upstream = rng(3).standard_normal(N) if reduction == "none" else np.asarray(1.7)
    (gx,) = grads_of(loss, upstream, tx)
    valid = target != -100
    t_safe = np.where(valid, target, 0)
    w_row = (weight[t_safe] if weighted else np.ones(N)) * valid
    rows, lse = cuda_rows.cross_entropy_forward_reference(x, t_safe, w_row)
    denom = w_row.sum()
    expected = {"none": rows, "sum": rows.sum(), "mean": rows.sum() / denom}[reduction]
    np.testing.assert_allclose(expected, loss.numpy(), **TOL)
    np.testing.assert_allclose(lse, np.log(np.exp(x).sum(axis=1)), **TOL)
    scale = {"none": upstream.reshape(-1, 1), "sum": upstream, "mean": upstream / denom}[reduction]
    np.testing.assert_allclose(cuda_rows.cross_entropy_backward_reference(x, t_safe, w_row, lse, scale), gx, **TOL)


@pytest.mark.parametrize("mask", ["causal", "causal, 3 keys cached", "causal, a query that sees nothing", "none"])
def test_attention_softmax_reference_matches_the_masked_softmax(mask):
    L, S = {"causal": (5, 5), "none": (4, 6)}.get(mask, (3, 6))
    offset = {"causal, 3 keys cached": 3, "causal, a query that sees nothing": -1}.get(mask, 0)
    s = rng().standard_normal((2, 3, L, S))
    scale = 0.35
    z = leaf(s)
    bias = None
    if mask != "none":
        bias = const(causal_bias(L, S, np.float64, np, offset=offset))
    # the composite's weights are softmax(q k^T scale + bias); with k = identity, q k^T = s
    q = z
    k = mg.tensor(np.broadcast_to(np.eye(S), (2, 3, S, S)).copy())
    _, p = _attention_weights_composite(q, k, k, bias, None, scale)
    ref = cuda_rows.attention_softmax_reference(s.copy(), scale, mask != "none", offset)
    np.testing.assert_allclose(ref, p.numpy(), **TOL)
    if offset < 0:
        assert not ref[..., 0, :].any()  # the first query sees no key: a row of zeros, as the array path gives
    # backward, with a dropout mask applied after the softmax
    keep = (rng(4).random(p.shape) > 0.3) / 0.7
    gp = rng(5).standard_normal(p.shape)
    (gs,) = grads_of(p * const(keep), gp, z)
    got = cuda_rows.attention_softmax_backward_reference(gp.copy(), p.numpy(), keep, scale)
    np.testing.assert_allclose(got, gs, **TOL)


def test_lstm_cell_reference_matches_lstm_step_and_its_gradients():
    B, H = 3, 4
    gi, h, c = rng().standard_normal((B, 4 * H)), rng(1).standard_normal((B, H)), rng(2).standard_normal((B, H))
    W = rng(3).standard_normal((4 * H, H)) * 0.5
    tgi, th, tc = leaf(gi), leaf(h), leaf(c)
    h_new, c_new = lstm_step(tgi, th, tc, mg.tensor(W))
    gh, gc = rng(4).standard_normal((B, H)), rng(5).standard_normal((B, H))
    (h_new * mg.tensor(gh) + c_new * mg.tensor(gc)).sum().backward()
    a, c_work = h @ W.T, c.copy()
    saved = [np.empty((B, H)) for _ in range(4)]
    cuda_pointwise.lstm_cell_forward_reference(a, gi, h, c_work, *saved)
    h_save, c_save, tanh_c, h_out = saved
    np.testing.assert_allclose(h_out, h_new.numpy(), **TOL)
    np.testing.assert_allclose(c_work, c_new.numpy(), **TOL)
    np.testing.assert_allclose(h_save, h, **TOL)
    np.testing.assert_allclose(c_save, c, **TOL)
    np.testing.assert_allclose(tanh_c, np.tanh(c_new.numpy()), **TOL)
    # backward: dh_in carries dL/dh_t from later steps (here 0), gy the output's gradient
    dc, dG = gc.copy(), np.empty((B, 4 * H))
    cuda_pointwise.lstm_cell_backward_reference(a, c_save, tanh_c, gh, np.zeros((B, H)), dc, dG)
    np.testing.assert_allclose(dG, tgi.grad.numpy(), **TOL)  # the gates' pre-activations: d(gi)
    np.testing.assert_allclose(dG @ W, th.grad.numpy(), **TOL)  # dh_{t-1} = dG W_hh
    np.testing.assert_allclose(dc, tc.grad.numpy(), **TOL)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_reference_matches_gru_step_and_its_gradients(bias):
    B, H = 3, 4
    gi, h = rng().standard_normal((B, 3 * H)), rng(1).standard_normal((B, H))
    W = rng(3).standard_normal((3 * H, H)) * 0.5
    b = rng(4).standard_normal(3 * H) if bias else None
    tgi, th = leaf(gi), leaf(h)
    tb = leaf(b) if bias else None
    h_new = gru_step(tgi, th, mg.tensor(W), tb)
    gy = rng(5).standard_normal((B, H))
    grads = grads_of(h_new, gy, *[t for t in (tgi, th, tb) if t is not None])
    acts, gh_n, h_save, h_out = np.empty((B, 3 * H)), np.empty((B, H)), np.empty((B, H)), np.empty((B, H))
    cuda_pointwise.gru_cell_forward_reference(gi, h @ W.T, b, h, acts, gh_n, h_save, h_out)
    np.testing.assert_allclose(h_out, h_new.numpy(), **TOL)
    dh_a, dGi, dGh = np.zeros((B, H)), np.empty((B, 3 * H)), np.empty((B, 3 * H))
    cuda_pointwise.gru_cell_backward_reference(acts, gh_n, h_save, gy, dh_a, np.zeros((B, H)), dGi, dGh)
    np.testing.assert_allclose(dGi, grads[0], **TOL)
    np.testing.assert_allclose(dh_a + dGh @ W, grads[1], **TOL)  # dh_{t-1} = dh z + dGh W_hh
    if bias:
        np.testing.assert_allclose(dGh.sum(axis=0), grads[2], **TOL)


# -- every op's kernel path, the references in the kernels' place -------------------------------------------
def both_paths(run):
    """run() on the array path and on the kernel path (references in the kernels' place)."""
    plain = run()
    with cuda_kernels.references():
        fused = run()
    return plain, fused


def assert_same(plain, fused, rtol=1e-12):
    assert plain.keys() == fused.keys()
    for key in plain:
        np.testing.assert_allclose(fused[key], plain[key], rtol=rtol, atol=rtol * 1e-2, err_msg=key)


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_a_gpt_step_on_the_kernel_path_equals_the_array_path(activation, dropout):
    x = rng().integers(0, 13, (3, 11))

    def run():
        mg.manual_seed(0)
        model = GPT(GPTConfig(block_size=12, vocab_size=13, n_layer=2, n_head=2, n_embd=16, dropout=dropout,
                              activation=activation)).double()
        opt = model.configure_optimizers(0.1, 1e-2, (0.9, 0.99))
        _, loss = model(mg.tensor(x[:, :-1]), x[:, 1:])
        loss.backward()
        opt.step()
        return {"loss": loss.numpy(), **{n: p.numpy() for n, p in model.named_parameters()}}

    assert_same(*both_paths(run))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_on_the_kernel_path_equal_the_array_path(kind, bidirectional):
    x = rng().standard_normal((6, 3, 5))

    def run():
        mg.manual_seed(0)
        layer = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=bidirectional).double()
        inp = mg.tensor(x, requires_grad=True)
        out, state = layer(inp)
        states = state if isinstance(state, tuple) else (state,)
        loss = (out * out).sum() + sum((s ** 3).sum() for s in states)
        loss.backward()
        return {"out": out.numpy(), "grad_x": inp.grad.numpy(),
                **{n: p.grad.numpy() for n, p in layer.named_parameters()}}

    assert_same(*both_paths(run))


@pytest.mark.parametrize("case", ["mean", "sum", "none", "weights and ignore_index", "3-d logits",
                                  "label smoothing (array path)"])
def test_cross_entropy_on_the_kernel_path_equals_the_array_path(case):
    logits = rng().standard_normal((4, 6, 5) if case == "3-d logits" else (8, 6))
    target = rng(1).integers(0, 6, (4, 5) if case == "3-d logits" else 8)
    kwargs = {"mean": {}, "sum": {"reduction": "sum"}, "none": {"reduction": "none"}}.get(case, {})
    if case == "weights and ignore_index":
        target[3] = 2
        kwargs = {"weight": mg.tensor(rng(2).random(6) + 0.5), "ignore_index": 2}
    if case.startswith("label"):
        kwargs = {"label_smoothing": 0.1}

    def run():
        x = mg.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, mg.tensor(target), **kwargs)
        loss.backward(mg.tensor(rng(3).standard_normal(loss.shape)))
        return {"loss": loss.numpy(), "grad": x.grad.numpy()}

    assert_same(*both_paths(run))


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 4, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_on_the_kernel_path_equals_the_array_path(shape, affine):
    normalized = shape[-1:] if len(shape) == 2 else shape[-2:]
    x = rng().standard_normal(shape) * 3

    def run():
        layer = nn.LayerNorm(normalized, elementwise_affine=affine).double()
        if affine:
            layer.weight.data[...] = rng(1).standard_normal(normalized)
            layer.bias.data[...] = rng(2).standard_normal(normalized)
        t = mg.tensor(x, requires_grad=True)
        y = layer(t)
        y.backward(mg.tensor(rng(3).standard_normal(shape)))
        return {"y": y.numpy(), "grad": t.grad.numpy(), **{n: p.grad.numpy() for n, p in layer.named_parameters()}}

    assert_same(*both_paths(run))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("causal", [True, False])
def test_attention_on_the_kernel_path_equals_the_array_path_to_the_second_derivative(causal, dropout):
    q, k, v = (rng(i).standard_normal((2, 3, 5, 4)) for i in range(3))

    def run():
        tq, tk, tv = (mg.tensor(a, requires_grad=True) for a in (q, k, v))
        out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, dropout_p=dropout,
                                             generator=mg.Generator(7))
        g = mg.autograd.grad(out, [tq, tk, tv], mg.tensor(rng(4).standard_normal(out.shape)), create_graph=True)
        second = mg.autograd.grad(sum((gi * gi).sum() for gi in g), [tq, tk, tv])
        return {"out": out.numpy(), **{f"grad{i}": gi.numpy() for i, gi in enumerate(g)},
                **{f"second{i}": si.numpy() for i, si in enumerate(second)}}

    assert_same(*both_paths(run))


def test_adam_over_one_flat_buffer_on_the_kernel_path_equals_the_array_path():
    init = [rng(i).standard_normal(s) for i, s in enumerate([(4, 3), (3,), (2, 2, 2)])]

    def run():
        params = [mg.tensor(a, requires_grad=True) for a in init]
        opt = optim.AdamW(params, lr=1e-2, foreach=True)
        for step in range(3):
            for i, p in enumerate(params):
                p.grad = mg.tensor(rng(10 * step + i).standard_normal(p.shape))
            opt.step()
        return {f"p{i}": p.numpy() for i, p in enumerate(params)}

    assert_same(*both_paths(run))
