"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's arguments, names and results.

    lstm = nn.LSTM(input_size=64, hidden_size=256, num_layers=2, batch_first=True)
    output, (h_n, c_n) = lstm(x)          # x: (batch, time, 64) -> output: (batch, time, 256)

The equations (one time step; x_t the input, h the previous hidden state, * elementwise):

    RNN    h_t = tanh(x_t W_ih^T + b_ih + h W_hh^T + b_hh)            (or relu)
    LSTM   i, f, g, o = split(x_t W_ih^T + b_ih + h W_hh^T + b_hh)    gate order i, f, g, o
           c_t = sigmoid(f) * c + sigmoid(i) * tanh(g)                the cell state is a sum
           h_t = sigmoid(o) * tanh(c_t)
    GRU    r, z, n = the thirds of x_t W_ih^T + b_ih and of h W_hh^T + b_hh (order r, z, n)
           see `gru_step` for the equations and how PyTorch's form maps onto the lecture's

They are written out with Tensor ops in `rnn_step`, `lstm_step` and `gru_step`: the readable
definition. Training runs a fused kernel instead (`RNNScan`, `LSTMScan`, `GRUScan`), for speed:

* The input's share of the gates, x_t W_ih^T + b_ih, does not depend on h, so it is computed for
  all time steps with one matmul before the loop; only h W_hh^T runs step by step.
* One graph node per layer and direction runs the whole time loop on raw arrays and keeps what
  backpropagation through time needs; its backward runs the loop in reverse on raw arrays and
  sums dL/dW_hh over time with one matmul at the end. Per step: one matmul and a few
  elementwise ops, no Python-level graph.
* For a second derivative (create_graph=True) the kernel differentiates its composite, the same
  loop written with the step functions above; a test checks that the two agree.

Parameters follow PyTorch exactly (names, shapes, gate order, init U(-1/sqrt(H), 1/sqrt(H))), so a
state dict copies across in either direction: `weight_ih_l{k}` (G*H, in), `weight_hh_l{k}` (G*H, H),
`bias_ih_l{k}`, `bias_hh_l{k}` (G*H,), with the suffix `_reverse` for the backward direction of a
bidirectional layer; G = 1 (RNN), 4 (LSTM), 3 (GRU).

Padding. PyTorch runs padded batches through `pack_padded_sequence`; here `forward(..., lengths=)`
does the same job: row b of the batch holds lengths[b] real steps followed by padding. The padded
steps leave the state unchanged (so h_n is the state after the last real step, and the backward
direction of a bidirectional layer starts at each row's own last step) and their outputs are zero,
which is what `pad_packed_sequence` returns.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import creation
from ..backend import check_index_range
from ..ops.recurrent import GRUScan, LSTMScan, RNNScan, gru_step, lstm_step, rnn_step
from ..tensor import Tensor, cat, stack
from . import functional as F
from . import init
from .module import Module, Parameter


# -- modules --------------------------------------------------------------------------------------
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(who, input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")


def _rnn_mode(who, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _scan(mode, gi, states, weight_hh, bias_hh, mask, reverse):
    """Run one layer and direction; returns (output (T, B, H), final states)."""
    T = gi.shape[0]
    if mode == "LSTM":
        y = LSTMScan.apply(gi, states[0], states[1], weight_hh, bias_hh, mask=mask, reverse=reverse)
        return y[:T], (y[T], y[T + 1])
    if mode == "GRU":
        y = GRUScan.apply(gi, states[0], weight_hh, bias_hh, mask=mask, reverse=reverse)
    else:
        nl = "tanh" if mode == "RNN_TANH" else "relu"
        y = RNNScan.apply(gi, states[0], weight_hh, bias_hh, mask=mask, reverse=reverse, nonlinearity=nl)
    return y[:T], (y[T],)


def _check_dtype(who, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(
            f"{who}: input has dtype {x.dtype} but the weights are {weight.dtype}; "
            f"cast one to match (module.double() / module.float(), or x.to({weight.dtype}))"
        )


class RNNBase(Module):
    """The shared body of RNN, LSTM and GRU: parameters, checks, and the layer/direction loop."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        _check_sizes(who, input_size, hidden_size)
        if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{who}: num_layers must be an int >= 1, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{who}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{who}: dropout={dropout} acts between recurrent layers only, so with num_layers=1 "
                "it does nothing (as in PyTorch); add layers or apply nn.Dropout to the output",
                stacklevel=3,
            )
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        gate_size = _GATES[mode] * hidden_size
        num_directions = 2 if bidirectional else 1
        self._weight_names = []  # per (layer, direction): [w_ih, w_hh, b_ih, b_hh] (PyTorch's order)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                names = [f"weight_ih{suffix}", f"weight_hh{suffix}"]
                setattr(self, names[0], Parameter(creation.zeros(gate_size, layer_input, dtype=dtype, device=device)))
                setattr(self, names[1], Parameter(creation.zeros(gate_size, hidden_size, dtype=dtype, device=device)))
                if bias:
                    names += [f"bias_ih{suffix}", f"bias_hh{suffix}"]
                    setattr(self, names[2], Parameter(creation.zeros(gate_size, dtype=dtype, device=device)))
                    setattr(self, names[3], Parameter(creation.zeros(gate_size, dtype=dtype, device=device)))
                self._weight_names.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as in PyTorch."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def _layer_params(self, index):
        names = self._weight_names[index]
        w_ih, w_hh = getattr(self, names[0]), getattr(self, names[1])
        b_ih = getattr(self, names[2]) if self.bias else None
        b_hh = getattr(self, names[3]) if self.bias else None
        return w_ih, w_hh, b_ih, b_hh

    def _lengths_mask(self, lengths, T, B, xp):
        """(T, B) bool, True at the real steps, on the input's device. Host lengths are checked at
        once and cross as B integers; lengths already on a GPU are checked there, without a sync."""
        who = type(self).__name__
        arr = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
        if arr.dtype.kind not in "iu" or arr.shape != (B,):
            raise ValueError(
                f"{who}: lengths must be {B} integers (one per batch row), got dtype {arr.dtype} and shape {arr.shape}"
            )
        check_index_range(arr - 1, T, lambda bad: (
            f"{who}: every length must lie in [1, {T}] (the time dim), got a length of {bad + 1}"), ValueError)
        return xp.arange(T)[:, None] < xp.asarray(arr)[None, :]

    def _initial_states(self, hx, B, x):
        """(h0,) or (h0, c0), each (num_layers * num_directions, B, H) or None."""
        who = type(self).__name__
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            return None
        if n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{who}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            states = tuple(hx)
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{who}: hx must be one tensor h_0, got a {type(hx).__name__}")
            states = (hx,)
        expected = (self.num_layers * self.num_directions, B, self.hidden_size)
        for name, s in zip(("h_0", "c_0"), states):
            if not isinstance(s, Tensor) or tuple(s.shape) != expected:
                got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(
                    f"{who}: {name} must have shape (num_layers * num_directions, batch, hidden_size) = "
                    f"{expected}, got {got}"
                )
            _check_dtype(who, s, x)
        return states

    def forward(self, input, hx=None, *, lengths=None):
        """input: (T, B, input_size), or (B, T, input_size) with batch_first, or (T, input_size).

        Returns (output, h_n) for RNN/GRU and (output, (h_n, c_n)) for LSTM, as PyTorch does:
        output (T, B, num_directions * H) holds the last layer's h_t for every t; h_n and c_n
        (num_layers * num_directions, B, H) hold every layer's final state. `lengths` (B ints)
        marks the real steps of a right-padded batch (see the module docstring).
        """
        who = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{who}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{who}: expected input of 2 dims (time, features) or 3 dims "
                f"({'batch, time' if self.batch_first else 'time, batch'}, features), got shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{who}: input has {input.shape[-1]} features (shape {tuple(input.shape)}) but input_size={self.input_size}"
            )
        w0 = getattr(self, self._weight_names[0][0])
        _check_dtype(who, input, w0)
        unbatched = input.ndim == 2
        if unbatched:
            input = input.unsqueeze(1)
            if hx is not None:
                hx = tuple(s.unsqueeze(1) for s in hx) if isinstance(hx, (tuple, list)) else hx.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        T, B, _ = input.shape
        if T == 0:
            raise ValueError(f"{who}: the input has no time steps (shape {tuple(input.shape)})")
        states = self._initial_states(hx, B, input)
        mask = None if lengths is None else self._lengths_mask(lengths, T, B, input.xp)
        n_states = 2 if self.mode == "LSTM" else 1
        finals = [[] for _ in range(n_states)]
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                w_ih, w_hh, b_ih, b_hh = self._layer_params(index)
                if states is None:
                    zero = Tensor._make(input.xp.zeros((B, self.hidden_size), dtype=input.dtype), False, None)
                    init_states = (zero,) * n_states
                else:
                    init_states = tuple(s[index] for s in states)
                # the input's share of the gates for all T steps at once: one (T*B, in) matmul
                gi = F.linear(layer_input.reshape(T * B, -1), w_ih, b_ih).reshape(T, B, -1)
                out, last = _scan(self.mode, gi, init_states, w_hh, b_hh, mask, reverse=direction == 1)
                outputs.append(out)
                for k in range(n_states):
                    finals[k].append(last[k])
            layer_input = outputs[0] if len(outputs) == 1 else cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        finals = [stack(f, dim=0) for f in finals]
        if unbatched:
            output = output.squeeze(1)
            finals = [f.squeeze(1) for f in finals]
        elif self.batch_first:
            output = output.transpose(0, 1)
        if self.mode == "LSTM":
            return output, (finals[0], finals[1])
        return output, finals[0]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), like torch.nn.RNN."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__(_rnn_mode("RNN", nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (see `lstm_step`), like torch.nn.LSTM; returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (see `gru_step` for PyTorch's form and the lecture's), like torch.nn.GRU."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class RNNCellBase(Module):
    """One time step: `weight_ih` (G*H, in), `weight_hh` (G*H, H), `bias_ih`, `bias_hh`, as in PyTorch.

    forward(input, hx) takes input (B, input_size) or (input_size,) and returns the new state; it
    runs the same fused kernel as the layers, over one step.
    """

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(creation.zeros(G, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.zeros(G, hidden_size, dtype=dtype, device=device))
        self.bias_ih = Parameter(creation.zeros(G, dtype=dtype, device=device)) if bias else None
        self.bias_hh = Parameter(creation.zeros(G, dtype=dtype, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _step(self, input, states):
        who = type(self).__name__
        if not isinstance(input, Tensor) or input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{who}: expected input of shape (batch, {self.input_size}) or ({self.input_size},), got {got}")
        _check_dtype(who, input, self.weight_ih)
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        B = input.shape[0]
        if states is None:
            zero = Tensor._make(input.xp.zeros((B, self.hidden_size), dtype=input.dtype), False, None)
            states = (zero,) * (2 if self.mode == "LSTM" else 1)
        else:
            fixed = []
            for s in states:
                s = s.unsqueeze(0) if unbatched and isinstance(s, Tensor) and s.ndim == 1 else s
                if not isinstance(s, Tensor) or tuple(s.shape) != (B, self.hidden_size):
                    got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                    raise ValueError(f"{who}: the state must have shape ({B}, {self.hidden_size}), got {got}")
                _check_dtype(who, s, self.weight_ih)
                fixed.append(s)
            states = tuple(fixed)
        gi = F.linear(input, self.weight_ih, self.bias_ih).unsqueeze(0)
        _, last = _scan(self.mode, gi, states, self.weight_hh, self.bias_hh, None, False)
        if unbatched:
            last = tuple(s.squeeze(0) for s in last)
        return last

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu), like torch.nn.RNNCell."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(_rnn_mode("RNNCell", nonlinearity), input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (see `lstm_step`): forward(input, (h, c)) -> (h', c'), like torch.nn.LSTMCell."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step (see `gru_step`), like torch.nn.GRUCell."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else (hx,))[0]


__all__ = [
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "rnn_step", "lstm_step", "gru_step",
]
