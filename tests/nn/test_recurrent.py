"""Recurrent layers without PyTorch: finite differences, hand-worked steps, the fused kernels
against their composites, padding by lengths, parameter layout and errors.
(The PyTorch comparisons are in tests/parity/test_recurrent_parity.py.)"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.ops.recurrent import GRUScan, LSTMScan, RNNScan, gru_step, lstm_step, rnn_step

RNG = np.random.default_rng(0)


def t64(*shape, requires_grad=True, scale=0.7):
    return mg.tensor(RNG.standard_normal(shape) * scale, dtype=mg.float64, requires_grad=requires_grad)


MASK = np.array([[True, True, True], [True, False, True], [False, False, True]])  # (T=3, B=3): lengths 2, 1, 3


def scan_inputs(kind, T=3, B=3, H=2):
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    gi, h0, w, b = t64(T, B, G * H), t64(B, H), t64(G * H, H), t64(G * H)
    if kind == "lstm":
        return (gi, h0, t64(B, H), w, b)
    return (gi, h0, w, b)


SCANS = {
    "rnn": lambda *a, **k: RNNScan.apply(*a, **k),
    "rnn_relu": lambda *a, **k: RNNScan.apply(*a, nonlinearity="relu", **k),
    "lstm": lambda *a, **k: LSTMScan.apply(*a, **k),
    "gru": lambda *a, **k: GRUScan.apply(*a, **k),
}
COMPOSITES = {
    "rnn": RNNScan.composite,
    "rnn_relu": lambda *a, **k: RNNScan.composite(*a, nonlinearity="relu", **k),
    "lstm": LSTMScan.composite,
    "gru": GRUScan.composite,
}


@pytest.mark.parametrize("kind", SCANS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mask", [None, MASK])
def test_fused_kernels_match_finite_differences(kind, reverse, mask):
    inputs = scan_inputs(kind.split("_")[0])
    assert mg.gradcheck(lambda *a: SCANS[kind](*a, mask=mask, reverse=reverse), inputs)


@pytest.mark.parametrize("kind", SCANS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mask", [None, MASK])
def test_fused_kernels_equal_their_composites(kind, reverse, mask):
    """The readable step functions (rnn_step, lstm_step, gru_step) and the kernels agree."""
    inputs = scan_inputs(kind.split("_")[0], T=4 if mask is None else 3)
    fused = SCANS[kind](*inputs, mask=mask, reverse=reverse)
    slow = COMPOSITES[kind](*inputs, mask=mask, reverse=reverse)
    np.testing.assert_allclose(fused.numpy(), slow.numpy(), rtol=1e-12, atol=1e-12)
    g = mg.tensor(RNG.standard_normal(fused.shape))
    grads_fused = mg.autograd.grad(fused, inputs, g)
    grads_slow = mg.autograd.grad(slow, inputs, g)
    for a, b in zip(grads_fused, grads_slow):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_second_derivatives_through_the_kernels(kind):
    """create_graph=True differentiates the composite: gradgradcheck passes."""
    inputs = scan_inputs(kind, T=2, B=1, H=2)
    assert mg.gradgradcheck(lambda *a: SCANS[kind](*a), inputs)


def test_rnn_by_hand():
    """One hidden unit: h1 = tanh(w x1 + b + u*0 + c), h2 = tanh(w x2 + b + u h1 + c)."""
    rnn = nn.RNN(1, 1).double()
    w, u, b, c = 0.5, -0.8, 0.1, 0.2
    rnn.load_state_dict({"weight_ih_l0": np.array([[w]]), "weight_hh_l0": np.array([[u]]),
                         "bias_ih_l0": np.array([b]), "bias_hh_l0": np.array([c])})
    out, h_n = rnn(mg.tensor([[[1.0]], [[-2.0]]], dtype=mg.float64))
    h1 = math.tanh(w * 1.0 + b + c)
    h2 = math.tanh(w * -2.0 + b + u * h1 + c)
    np.testing.assert_allclose(out.numpy().ravel(), [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(h_n.numpy().ravel(), [h2], rtol=1e-14)


def test_lstm_step_by_hand():
    """One unit, one step from h = 1, c = 2, with gate pre-activations chosen by hand."""
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    cell = nn.LSTMCell(1, 1).double()
    cell.load_state_dict({
        "weight_ih": np.array([[1.0], [2.0], [3.0], [4.0]]),   # i, f, g, o
        "weight_hh": np.array([[0.5], [-0.5], [0.25], [0.0]]),
        "bias_ih": np.array([0.1, 0.2, 0.3, 0.4]), "bias_hh": np.zeros(4),
    })
    x, h, c = 0.3, 1.0, 2.0
    i = sig(1.0 * x + 0.1 + 0.5 * h)
    f = sig(2.0 * x + 0.2 - 0.5 * h)
    g = math.tanh(3.0 * x + 0.3 + 0.25 * h)
    o = sig(4.0 * x + 0.4)
    c_new = f * c + i * g
    h_new = o * math.tanh(c_new)
    h1, c1 = cell(mg.tensor([[x]], dtype=mg.float64),
                  (mg.tensor([[h]], dtype=mg.float64), mg.tensor([[c]], dtype=mg.float64)))
    assert h1.item() == pytest.approx(h_new, rel=1e-13)
    assert c1.item() == pytest.approx(c_new, rel=1e-13)


def test_gru_step_by_hand():
    """PyTorch's GRU: z keeps the OLD state, and r multiplies (W_hn h + b_hn)."""
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    cell = nn.GRUCell(1, 1).double()
    cell.load_state_dict({
        "weight_ih": np.array([[1.0], [-1.0], [2.0]]),   # r, z, n
        "weight_hh": np.array([[0.5], [0.3], [-0.7]]),
        "bias_ih": np.zeros(3), "bias_hh": np.array([0.0, 0.0, 0.4]),
    })
    x, h = 0.5, -0.6
    r = sig(1.0 * x + 0.5 * h)
    z = sig(-1.0 * x + 0.3 * h)
    n = math.tanh(2.0 * x + r * (-0.7 * h + 0.4))
    expected = (1 - z) * n + z * h
    out = cell(mg.tensor([[x]], dtype=mg.float64), mg.tensor([[h]], dtype=mg.float64))
    assert out.item() == pytest.approx(expected, rel=1e-13)


def test_constant_error_carousel():
    """With the forget gate saturated open and the input gate shut, dc_T/dc_0 = prod f ~= 1:
    the LSTM's cell carries a gradient across 200 steps; a tanh RNN's dies out."""
    T, H = 200, 4
    lstm = nn.LSTM(1, H).double()
    with mg.no_grad():
        for p in lstm.parameters():
            p.zero_()
        lstm.bias_ih_l0.data[H:2 * H] = 20.0    # f = sigmoid(20) ~ 1
        lstm.bias_ih_l0.data[:H] = -20.0        # i ~ 0
    c0 = t64(1, 1, H)
    _, (_, c_n) = lstm(mg.zeros(T, 1, 1, dtype=mg.float64), (mg.zeros(1, 1, H, dtype=mg.float64), c0))
    (g,) = mg.autograd.grad(c_n.sum(), [c0])
    np.testing.assert_allclose(g.numpy(), (1 / (1 + math.exp(-20))) ** T, rtol=1e-9)
    assert g.numpy().min() > 0.99

    rnn = nn.RNN(1, H).double()
    h0 = t64(1, 1, H)
    _, h_n = rnn(mg.zeros(T, 1, 1, dtype=mg.float64), h0)
    (g,) = mg.autograd.grad(h_n.sum(), [h0])
    assert np.abs(g.numpy()).max() < 1e-6


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_lengths_equal_running_each_row_alone(cls):
    """A right-padded batch with lengths= gives each row's own result: outputs at real steps,
    zeros at padding, and h_n (c_n) after the row's last real step, in both directions."""
    mg.manual_seed(1)
    layer = cls(3, 4, num_layers=2, bidirectional=True).double()
    lengths = [5, 2, 4]
    x = RNG.standard_normal((5, 3, 3))
    out, state = layer(mg.tensor(x), lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    for b, n in enumerate(lengths):
        out_b, state_b = layer(mg.tensor(x[:n, b:b + 1]))
        hb = state_b[0] if isinstance(state_b, tuple) else state_b
        np.testing.assert_allclose(out.numpy()[:n, b], out_b.numpy()[:, 0], atol=1e-12)
        np.testing.assert_array_equal(out.numpy()[n:, b], 0.0)
        np.testing.assert_allclose(h_n.numpy()[:, b], hb.numpy()[:, 0], atol=1e-12)
        if isinstance(state, tuple):
            np.testing.assert_allclose(state[1].numpy()[:, b], state_b[1].numpy()[:, 0], atol=1e-12)


def test_lengths_gradients_ignore_padding():
    """Nothing at a padded position influences anything: its input gets zero gradient."""
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    x = t64(4, 2, 2)
    out, (h_n, c_n) = lstm(x, lengths=[2, 4])
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy()[2:, 0], 0.0)
    assert np.abs(x.grad.numpy()[:2, 0]).min() > 0
    assert np.abs(x.grad.numpy()[:, 1]).min() > 0


def test_parameter_names_shapes_and_init():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    expected = []
    for layer, in_size in ((0, 3), (1, 10)):
        for suffix in ("", "_reverse"):
            s = f"_l{layer}{suffix}"
            expected += [(f"weight_ih{s}", (20, in_size)), (f"weight_hh{s}", (20, 5)),
                         (f"bias_ih{s}", (20,)), (f"bias_hh{s}", (20,))]
    assert [(n, tuple(p.shape)) for n, p in lstm.named_parameters()] == expected
    bound = 1 / math.sqrt(5)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)  # U(-a, a) has std a/sqrt(3)
    gru = nn.GRU(3, 5, bias=False)
    assert [n for n, _ in gru.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert gru.weight_ih_l0.shape == (15, 3)
    cell = nn.RNNCell(3, 5)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_batch_first_unbatched_and_initial_states(cls):
    layer = cls(3, 4, num_layers=2).double()
    x = RNG.standard_normal((5, 2, 3))
    is_lstm = cls is nn.LSTM
    hx = (t64(2, 2, 4), t64(2, 2, 4)) if is_lstm else t64(2, 2, 4)
    out, state = layer(mg.tensor(x), hx)
    layer.batch_first = True
    out_bf, state_bf = layer(mg.tensor(x.transpose(1, 0, 2)), hx)
    np.testing.assert_allclose(out_bf.numpy().transpose(1, 0, 2), out.numpy(), atol=1e-14)
    # one unbatched sequence (time, features) equals a batch of one
    layer.batch_first = False
    hx1 = tuple(s[:, 0] for s in hx) if is_lstm else hx[:, 0]
    out1, state1 = layer(mg.tensor(x[:, 0]), hx1)
    np.testing.assert_allclose(out1.numpy(), out.numpy()[:, 0], atol=1e-14)
    h1 = state1[0] if is_lstm else state1
    h = state[0] if is_lstm else state
    np.testing.assert_allclose(h1.numpy(), h.numpy()[:, 0], atol=1e-14)
    # the initial states get gradients, and starting from zeros equals passing no hx
    h.sum().backward()
    for s in (hx if is_lstm else (hx,)):
        assert s.grad is not None and np.abs(s.grad.numpy()).sum() > 0
    zeros = tuple(mg.zeros(2, 2, 4, dtype=mg.float64) for _ in range(2 if is_lstm else 1))
    out_z, _ = layer(mg.tensor(x), zeros if is_lstm else zeros[0])
    out_none, _ = layer(mg.tensor(x))
    np.testing.assert_array_equal(out_z.numpy(), out_none.numpy())


@pytest.mark.parametrize("cell_cls, layer_cls", [(nn.RNNCell, nn.RNN), (nn.LSTMCell, nn.LSTM), (nn.GRUCell, nn.GRU)])
def test_a_cell_in_a_loop_equals_the_layer(cell_cls, layer_cls):
    layer = layer_cls(3, 4).double()
    cell = cell_cls(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
    x = t64(6, 2, 3)
    out, _ = layer(x)
    state = None
    for t in range(6):
        state = cell(x[t], state)
        h = state[0] if isinstance(state, tuple) else state
        np.testing.assert_allclose(h.numpy(), out.numpy()[t], atol=1e-14)
    # unbatched cell input
    h_single = cell(x[0, 0])
    first = h_single[0] if isinstance(h_single, tuple) else h_single
    np.testing.assert_allclose(first.numpy(), out.numpy()[0, 0], atol=1e-14)


def test_step_functions_read_like_the_cells():
    """rnn_step / lstm_step / gru_step with gi = x W_ih^T + b_ih are the cells' equations."""
    x, h, c = t64(2, 3), t64(2, 4), t64(2, 4)
    for cell, step, states in ((nn.RNNCell(3, 4), rnn_step, (h,)), (nn.LSTMCell(3, 4), lstm_step, (h, c)),
                               (nn.GRUCell(3, 4), gru_step, (h,))):
        cell.double()
        gi = nn.functional.linear(x, cell.weight_ih, cell.bias_ih)
        want = step(gi, *states, cell.weight_hh, cell.bias_hh)
        got = cell(x, states if len(states) == 2 else states[0])
        for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-14)


def test_dropout_acts_between_layers_only_in_training():
    mg.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2, dropout=1.0).double()
    x = t64(4, 1, 2, requires_grad=False)
    # p = 1 zeroes the first layer's output: the second layer sees only zeros
    out_train, _ = lstm(x)
    second = nn.LSTM(3, 3).double()
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in lstm.state_dict().items() if "_l1" in k})
    out_zero_input, _ = second(mg.zeros(4, 1, 3, dtype=mg.float64))
    np.testing.assert_allclose(out_train.numpy(), out_zero_input.numpy(), atol=1e-14)
    lstm.eval()
    out_eval, _ = lstm(x)
    assert np.abs(out_eval.numpy() - out_zero_input.numpy()).max() > 1e-3
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(2, 3, dropout=0.5)


def test_backward_twice_and_weights_changed_in_place_are_errors():
    lstm = nn.LSTM(2, 3)
    out, _ = lstm(mg.randn(4, 1, 2))
    loss = out.sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    out, _ = lstm(mg.randn(4, 1, 2))
    with mg.no_grad():
        lstm.weight_hh_l0.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        out.sum().backward()


def test_clear_errors():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="input_size=3"):
        lstm(mg.randn(5, 2, 7))
    with pytest.raises(ValueError, match="2 dims"):
        lstm(mg.randn(5))
    with pytest.raises(ValueError, match=r"h_0 must have shape .*\(1, 2, 4\)"):
        lstm(mg.randn(5, 2, 3), (mg.randn(1, 3, 4), mg.randn(1, 2, 4)))
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        lstm(mg.randn(5, 2, 3), mg.randn(1, 2, 4))
    with pytest.raises(TypeError, match="float64.*float32"):
        lstm(mg.randn(5, 2, 3, dtype=mg.float64))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]|every length must lie in \[1, 5\]"):
        lstm(mg.randn(5, 2, 3), lengths=[6, 2])
    with pytest.raises(ValueError, match="one per batch row"):
        lstm(mg.randn(5, 2, 3), lengths=[3])
    with pytest.raises(ValueError, match="nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="dropout must be a number in"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=r"state must have shape \(2, 4\)"):
        nn.GRUCell(3, 4)(mg.randn(2, 3), mg.randn(3, 4))
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        nn.LSTMCell(3, 4)(mg.randn(2, 3), mg.randn(2, 4))


def test_repr_reads_like_pytorch():
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"
