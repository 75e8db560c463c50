"""RNN, LSTM, GRU and their cells against torch.nn with the same weights: outputs, final states
and every gradient (input, initial states, parameters). float64 to 1e-6, float32 to 1e-4."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

TOL = {np.float64: 1e-6, np.float32: 1e-4}
KINDS = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}


def close(ours, theirs, dtype, what):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype], err_msg=what)


def make_pair(ours_cls, theirs_cls, dtype, *args, **kwargs):
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    theirs = theirs_cls(*args, **kwargs).to(torch_dtype)
    ours = ours_cls(*args, **kwargs)
    ours.to(dtype=dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs, torch_dtype


def as_pair(array, dtype, torch_dtype, requires_grad=True):
    return (mg.tensor(array.astype(dtype), requires_grad=requires_grad),
            torch.tensor(array, dtype=torch_dtype, requires_grad=requires_grad))


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    with_hx=st.booleans(),
    T=st.integers(1, 5),
    B=st.integers(1, 3),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_layers_match_pytorch(kind, num_layers, bidirectional, batch_first, bias, with_hx, T, B, dtype, seed):
    ours_cls, theirs_cls, extra = KINDS[kind]
    I, H = 3, 4
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ours, theirs, tdt = make_pair(ours_cls, theirs_cls, dtype, I, H, num_layers=num_layers, bias=bias,
                                  batch_first=batch_first, bidirectional=bidirectional, **extra)
    D = 2 if bidirectional else 1
    x_o, x_t = as_pair(rng.standard_normal((B, T, I) if batch_first else (T, B, I)), dtype, tdt)
    is_lstm = kind == "lstm"
    hx_o = hx_t = None
    if with_hx:
        pairs = [as_pair(rng.standard_normal((num_layers * D, B, H)), dtype, tdt) for _ in range(2 if is_lstm else 1)]
        hx_o = tuple(p[0] for p in pairs) if is_lstm else pairs[0][0]
        hx_t = tuple(p[1] for p in pairs) if is_lstm else pairs[0][1]
    out_o, state_o = ours(x_o, hx_o)
    out_t, state_t = theirs(x_t, hx_t)
    states_o = state_o if is_lstm else (state_o,)
    states_t = state_t if is_lstm else (state_t,)
    close(out_o, out_t, dtype, "output")
    for so, st_ in zip(states_o, states_t):
        close(so, st_, dtype, "final state")
    # backprop the same random cotangents into output and every final state
    loss_o, loss_t = 0, 0
    for o, t in zip((out_o,) + tuple(states_o), (out_t,) + tuple(states_t)):
        g = rng.standard_normal(t.shape)
        loss_o = loss_o + (o * mg.tensor(g.astype(dtype))).sum()
        loss_t = loss_t + (t * torch.tensor(g, dtype=tdt)).sum()
    loss_o.backward()
    loss_t.backward()
    close(x_o.grad, x_t.grad, dtype, "input grad")
    if with_hx:
        for so, st_ in zip(hx_o if is_lstm else (hx_o,), hx_t if is_lstm else (hx_t,)):
            close(so.grad, st_.grad, dtype, "initial state grad")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad, dtype, f"grad of {name}")


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lengths_match_pack_padded_sequence(kind, dtype):
    """lengths= does what pack_padded_sequence does: outputs (zero at padding), h_n, gradients."""
    ours_cls, theirs_cls, extra = KINDS[kind]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ours, theirs, tdt = make_pair(ours_cls, theirs_cls, dtype, 3, 4, num_layers=2, bidirectional=True,
                                  batch_first=True, **extra)
    lengths = [6, 2, 4, 1]
    x_o, x_t = as_pair(rng.standard_normal((4, 6, 3)), dtype, tdt)
    out_o, state_o = ours(x_o, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out_packed, state_t = theirs(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True, total_length=6)
    close(out_o, out_t, dtype, "output")
    states_o = state_o if kind == "lstm" else (state_o,)
    states_t = state_t if kind == "lstm" else (state_t,)
    for so, st_ in zip(states_o, states_t):
        close(so, st_, dtype, "final state")
    g = rng.standard_normal(out_t.shape)
    loss_o = (out_o * mg.tensor(g.astype(dtype))).sum() + sum((s * s).sum() for s in states_o)
    loss_t = (out_t * torch.tensor(g, dtype=tdt)).sum() + sum((s * s).sum() for s in states_t)
    loss_o.backward()
    loss_t.backward()
    close(x_o.grad, x_t.grad, dtype, "input grad")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad, dtype, f"grad of {name}")


CELLS = {
    "rnn_tanh": (nn.RNNCell, torch.nn.RNNCell, {}),
    "rnn_relu": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (nn.GRUCell, torch.nn.GRUCell, {}),
}


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_pytorch(kind, dtype, bias):
    ours_cls, theirs_cls, extra = CELLS[kind]
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    ours, theirs, tdt = make_pair(ours_cls, theirs_cls, dtype, 3, 5, bias=bias, **extra)
    x_o, x_t = as_pair(rng.standard_normal((2, 3)), dtype, tdt)
    n_states = 2 if kind == "lstm" else 1
    pairs = [as_pair(rng.standard_normal((2, 5)), dtype, tdt) for _ in range(n_states)]
    hx_o = tuple(p[0] for p in pairs) if n_states == 2 else pairs[0][0]
    hx_t = tuple(p[1] for p in pairs) if n_states == 2 else pairs[0][1]
    # two steps, so that the state produced by the first is fed back in
    s_o, s_t = ours(x_o, hx_o), theirs(x_t, hx_t)
    s_o, s_t = ours(x_o * 2, s_o), theirs(x_t * 2, s_t)
    outs_o = s_o if n_states == 2 else (s_o,)
    outs_t = s_t if n_states == 2 else (s_t,)
    loss_o, loss_t = 0, 0
    for o, t in zip(outs_o, outs_t):
        close(o, t, dtype, "new state")
        g = rng.standard_normal(t.shape)
        loss_o = loss_o + (o * mg.tensor(g.astype(dtype))).sum()
        loss_t = loss_t + (t * torch.tensor(g, dtype=tdt)).sum()
    loss_o.backward()
    loss_t.backward()
    close(x_o.grad, x_t.grad, dtype, "input grad")
    for (so, st_) in pairs:
        close(so.grad, st_.grad, dtype, "state grad")
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad, dtype, f"grad of {name}")


def test_state_dict_loads_into_torch():
    """Our parameter names and shapes are PyTorch's: a state dict goes the other way too."""
    ours = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    out_o, h_o = ours(mg.tensor(x))
    out_t, h_t = theirs(torch.tensor(x))
    close(out_o, out_t, np.float32, "output")
    close(h_o, h_t, np.float32, "h_n")
