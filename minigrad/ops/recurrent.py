"""The recurrent kernels: one graph node runs a whole layer's time loop (RNN, LSTM, GRU).

Each step is first written out with Tensor ops (`rnn_step`, `lstm_step`, `gru_step`): the readable
definition, and the kernels' composite (their reference and their path to second derivatives).
The kernels (`RNNScan`, `LSTMScan`, `GRUScan`) run the loop on raw arrays, forward and backward;
nn/recurrent.py holds the modules (see its docstring for the equations and the padding rules).
"""
from __future__ import annotations

from ..backend import xp_of
from ._util import const
from .cuda_kernels import on as fused_kernel_for
from .cuda_pointwise import gru_backward, gru_forward, lstm_backward, lstm_forward
from .elementwise import Where
from .fused import Fused, Linear
from .shape import Cat


# -- the equations, one time step, with Tensor ops ---------------------------------------------
# `gi` is the input's share of the gates, x_t W_ih^T + b_ih; the layers compute it for all time
# steps at once. The cells below compute the same thing for a single step.
def rnn_step(gi, h, weight_hh, bias_hh=None, nonlinearity="tanh"):
    """h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)   (relu instead of tanh if asked)"""
    pre = gi + Linear.apply(h, weight_hh, bias_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def lstm_step(gi, h, c, weight_hh, bias_hh=None):
    """One LSTM step (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    The cell state is updated by a sum, c_t = f * c_{t-1} + i * g: with the forget gate open
    (f near 1), dc_t/dc_{t-1} = f stays near 1 across many steps, the "constant error carousel"
    that lets a gradient cross long time lags without vanishing.
    """
    gates = gi + Linear.apply(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=-1)        # PyTorch's gate order
    i = i.sigmoid()                            # input gate: how much of the candidate to write
    f = f.sigmoid()                            # forget gate: how much of the old cell to keep
    g = g.tanh()                               # candidate cell values
    o = o.sigmoid()                            # output gate: how much of the cell to show
    c = f * c + i * g
    h = o * c.tanh()
    return h, c


def gru_step(gi, h, weight_hh, bias_hh=None):
    """One GRU step (Cho et al. 2014), in PyTorch's parameterisation.

    The lecture writes, with [a, b] a concatenation,
        z_t = sigmoid(W_z [h_{t-1}, x_t])                  update gate
        r_t = sigmoid(W_r [h_{t-1}, x_t])                  reset gate
        h~_t = tanh(W [r_t * h_{t-1}, x_t])                candidate
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    PyTorch (and so this code) splits each W into an input part (W_i*, in weight_ih) and a hidden
    part (W_h*, in weight_hh), each with a bias, and differs in two places:
    1. its z weights the OLD state: h_t = (1 - z) * h~ + z * h_{t-1}. PyTorch's z is the
       lecture's 1 - z; since 1 - sigmoid(a) = sigmoid(-a), the lecture's update gate is PyTorch's
       with the z rows of both weights and biases negated. Same family of models.
    2. it resets after the matmul: h~ = tanh(W_in x + b_in + r * (W_hn h + b_hn)), where the
       lecture resets before it, tanh(W_in x + W_hn (r * h)). These are different functions (r
       scales the rows of W_hn h rather than the entries of h); no renaming of weights maps one
       onto the other. PyTorch's form ("reset after", as in cuDNN) lets h W_hh^T be one matmul
       for all three gates. Parity tests follow PyTorch.
    """
    gh = Linear.apply(h, weight_hh, bias_hh)
    gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)     # PyTorch's gate order r, z, n
    gh_r, gh_z, gh_n = gh.chunk(3, dim=-1)
    r = (gi_r + gh_r).sigmoid()                # reset gate    r_t
    z = (gi_z + gh_z).sigmoid()                # update gate   z_t (PyTorch's: share of the OLD state)
    h_tilde = (gi_n + r * gh_n).tanh()         # candidate     h~_t (reset applied after the matmul)
    return (1 - z) * h_tilde + z * h


# -- fused kernels: the whole time loop of one layer and direction as one graph node -------------
def _sigmoid_(a):
    """sigmoid in place, by the tanh form (never overflows): (1 + tanh(a/2)) / 2."""
    xp = xp_of(a)
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _float_mask(mask, dtype):
    """(T, B) bool -> (T, B, 1) of 0/1 in the kernel's dtype, or None."""
    return None if mask is None else mask[:, :, None].astype(dtype)


def _composite_scan(step, gi, states, mask, reverse):
    """The time loop with Tensor ops: outputs and final states stacked as the kernels return them.

    `step(gi_t, *states) -> new states` (the first state is h). Padded steps keep the old state and
    output zeros, as in the kernels.
    """
    T = gi.shape[0]
    m = None
    if mask is not None:
        m = const(mask[:, :, None])
    outs = [None] * T
    for t in _order(T, reverse):
        new = step(gi[t], *states)
        if not isinstance(new, tuple):
            new = (new,)
        if m is None:
            states = new
            outs[t] = new[0]
        else:
            states = tuple(Where.apply(m[t], n, s) for n, s in zip(new, states))
            outs[t] = Where.apply(m[t], new[0], new[0] * 0.0)
    return Cat.apply(*[o.unsqueeze(0) for o in outs + list(states)], dim=0)


class _Scan(Fused):
    """Shared plumbing of the kernels: checks and dropping saved arrays after backward."""

    def release(self):
        super().release()
        self.saved = None

    @staticmethod
    def _check(name, gi, h0, weight_hh, gates):
        T, B, G = gi.shape
        H = weight_hh.shape[1]
        if G != gates * H or weight_hh.shape[0] != gates * H or h0.shape != (B, H):
            raise ValueError(
                f"{name}: shapes do not fit: gi {gi.shape} (time, batch, {gates}*hidden), "
                f"h0 {h0.shape} (batch, hidden), weight_hh {weight_hh.shape} ({gates}*hidden, hidden)"
            )
        return T, B, H


class RNNScan(_Scan):
    """h_t = act(gi_t + h_{t-1} W_hh^T + b_hh) for all t; returns [h_1 .. h_T, h_n] stacked.

    Backward: with a_t = act'(pre_t) * dL/dh_t,  dL/dgi_t = a_t,  dL/dh_{t-1} += a_t W_hh,
    dL/dW_hh = sum_t a_t^T h_{t-1},  dL/db_hh = sum_t a_t.
    """

    def forward(ctx, gi, h0, weight_hh, bias_hh=None, mask=None, reverse=False, nonlinearity="tanh"):
        xp = xp_of(gi)
        T, B, H = ctx._check("RNN", gi, h0, weight_hh, 1)
        ctx.save_for_backward(gi, h0, weight_hh, bias_hh)
        ctx.kwargs = dict(mask=mask, reverse=reverse, nonlinearity=nonlinearity)
        x = gi + bias_hh if bias_hh is not None else gi
        w = xp.ascontiguousarray(weight_hh.T)  # (H, G*H), row-major: the faster right operand
        h_prev = xp.empty((T, B, H), dtype=gi.dtype)
        h_new = xp.empty((T, B, H), dtype=gi.dtype)
        out = xp.empty((T + 1, B, H), dtype=gi.dtype)
        m = _float_mask(mask, gi.dtype)
        h = h0
        for t in _order(T, reverse):
            h_prev[t] = h
            a = h_new[t]
            xp.matmul(h, w, out=a)
            a += x[t]
            if nonlinearity == "tanh":
                xp.tanh(a, out=a)
            else:
                xp.maximum(a, 0, out=a)
            if m is None:
                h = a
                out[t] = a
            else:
                h = a * m[t] + h * (1 - m[t])
                out[t] = a * m[t]
        out[T] = h
        ctx.saved = (h_prev, h_new, m)
        return out

    def fast_backward(ctx, gy):
        h_prev, h_new, m = ctx.saved
        _, _, weight_hh, bias_hh = ctx.saved_tensors
        W = weight_hh.data
        T = h_new.shape[0]
        dpre = xp_of(gy).empty_like(h_new)
        dh = gy[T].copy()
        for t in reversed(_order(T, ctx.kwargs["reverse"])):
            dhn = dh + gy[t]
            if m is not None:
                keep = dh * (1 - m[t])
                dhn *= m[t]
            d = dpre[t]
            if ctx.kwargs["nonlinearity"] == "tanh":
                xp_of(d).multiply(dhn, 1 - h_new[t] * h_new[t], out=d)
            else:
                xp_of(d).multiply(dhn, h_new[t] > 0, out=d)
            dh = d @ W
            if m is not None:
                dh += keep
        H = W.shape[1]
        dW = dpre.reshape(-1, H).T @ h_prev.reshape(-1, H)
        db = dpre.sum(axis=(0, 1)) if bias_hh is not None else None
        return dpre, dh, dW, db

    @staticmethod
    def composite(gi, h0, weight_hh, bias_hh=None, mask=None, reverse=False, nonlinearity="tanh"):
        def step(g, h):
            return rnn_step(g, h, weight_hh, bias_hh, nonlinearity)

        return _composite_scan(step, gi, (h0,), mask, reverse)


class LSTMScan(_Scan):
    """The LSTM over all t; returns [h_1 .. h_T, h_n, c_n] stacked along dim 0.

    Backward through time, with dh, dc the gradients reaching h_t, c_t and tc = tanh(c_t):
        dc_t += dh * o * (1 - tc^2)          (c_t reaches the loss through h_t as well)
        do = dh * tc,  di = dc_t * g,  dg = dc_t * i,  df = dc_t * c_{t-1}
        d(gate pre-activations) = di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)   =: dG_t
        dh_{t-1} = dG_t W_hh,  dc_{t-1} = dc_t * f   (the carousel: a product of forget gates)
        dL/dgi_t = dG_t,  dL/dW_hh = sum_t dG_t^T h_{t-1},  dL/db_hh = sum_t dG_t
    """

    def forward(ctx, gi, h0, c0, weight_hh, bias_hh=None, mask=None, reverse=False):
        xp = xp_of(gi)
        T, B, H = ctx._check("LSTM", gi, h0, weight_hh, 4)
        if c0.shape != h0.shape:
            raise ValueError(f"LSTM: c0 has shape {c0.shape}, expected {h0.shape} like h0")
        ctx.save_for_backward(gi, h0, c0, weight_hh, bias_hh)
        ctx.kwargs = dict(mask=mask, reverse=reverse)
        dt = gi.dtype
        x = gi + bias_hh if bias_hh is not None else gi
        w = xp.ascontiguousarray(weight_hh.T)  # (H, 4H): a row-major right operand is the faster matmul
        if mask is None and fused_kernel_for(gi):  # one matmul and one cell kernel a step (cuda_pointwise.py)
            out, ctx.saved = lstm_forward(x, h0, c0, w, reverse)
            return out
        # scale the pre-activations so that one tanh serves all four gates:
        # sigmoid(a) = (1 + tanh(a/2)) / 2 for i, f, o, and tanh(a) for g
        scale = xp.full(4 * H, 0.5, dtype=dt)
        scale[2 * H:3 * H] = 1.0
        acts = xp.empty((T, B, 4 * H), dtype=dt)   # i, f, g, o after their nonlinearities
        h_prev = xp.empty((T, B, H), dtype=dt)
        c_prev = xp.empty((T, B, H), dtype=dt)
        tanh_c = xp.empty((T, B, H), dtype=dt)
        out = xp.empty((T + 2, B, H), dtype=dt)
        m = _float_mask(mask, dt)
        h, c = h0, c0
        for t in _order(T, reverse):
            h_prev[t] = h
            c_prev[t] = c
            a = acts[t]
            xp.matmul(h, w, out=a)
            a += x[t]
            a *= scale
            xp.tanh(a, out=a)
            for s in (slice(0, 2 * H), slice(3 * H, 4 * H)):  # i, f and o: tanh -> sigmoid
                a[:, s] *= 0.5
                a[:, s] += 0.5
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            c_new = f * c
            c_new += i * g
            tc = xp.tanh(c_new, out=tanh_c[t])
            h_new = o * tc
            if m is None:
                h, c = h_new, c_new
                out[t] = h_new
            else:
                keep = 1 - m[t]
                h = h_new * m[t] + h * keep
                c = c_new * m[t] + c * keep
                out[t] = h_new * m[t]
        out[T] = h
        out[T + 1] = c
        ctx.saved = (acts, h_prev, c_prev, tanh_c, m)
        return out

    def fast_backward(ctx, gy):
        acts, h_prev, c_prev, tanh_c, m = ctx.saved
        _, _, _, weight_hh, bias_hh = ctx.saved_tensors
        W = weight_hh.data
        if m is None and fused_kernel_for(gy):
            return lstm_backward(ctx.saved, gy, W, ctx.kwargs["reverse"], bias_hh is not None)
        T, B, G = acts.shape
        H = G // 4
        dG = xp_of(gy).empty_like(acts)
        dh = gy[T].copy()
        dc = gy[T + 1].copy()
        for t in reversed(_order(T, ctx.kwargs["reverse"])):
            a = acts[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            tc = tanh_c[t]
            if m is not None:  # a padded step passed the state through unchanged
                keep_h, keep_c = dh * (1 - m[t]), dc * (1 - m[t])
                dh = (dh + gy[t]) * m[t]
                dc = dc * m[t]
            else:
                dh = dh + gy[t]
            d = dG[t]
            oh = dh * o
            dc = dc + oh * (1 - tc * tc)
            d[:, 3 * H:] = oh * tc * (1 - o)
            d[:, :H] = dc * g * i * (1 - i)
            d[:, H:2 * H] = dc * c_prev[t] * f * (1 - f)
            d[:, 2 * H:3 * H] = dc * i * (1 - g * g)
            dh = d @ W
            dc = dc * f
            if m is not None:
                dh += keep_h
                dc += keep_c
        dW = dG.reshape(-1, G).T @ h_prev.reshape(-1, H)
        db = dG.sum(axis=(0, 1)) if bias_hh is not None else None
        return dG, dh, dc, dW, db

    @staticmethod
    def composite(gi, h0, c0, weight_hh, bias_hh=None, mask=None, reverse=False):
        def step(g, h, c):
            return lstm_step(g, h, c, weight_hh, bias_hh)

        return _composite_scan(step, gi, (h0, c0), mask, reverse)


class GRUScan(_Scan):
    """The GRU over all t (PyTorch's form, see `gru_step`); returns [h_1 .. h_T, h_n] stacked.

    With gh = h_{t-1} W_hh^T + b_hh = [gh_r, gh_z, gh_n] and h_t = n + z * (h_{t-1} - n):
        dn = dh (1 - z),  dz = dh (h_{t-1} - n),  dh_{t-1} = dh z + dGh_t W_hh
        dn_pre = dn (1 - n^2),  dr = dn_pre * gh_n
        dL/dgi_t = [dr r(1-r), dz z(1-z), dn_pre],  dGh_t = [dr r(1-r), dz z(1-z), dn_pre * r]
        dL/dW_hh = sum_t dGh_t^T h_{t-1},  dL/db_hh = sum_t dGh_t
    """

    def forward(ctx, gi, h0, weight_hh, bias_hh=None, mask=None, reverse=False):
        xp = xp_of(gi)
        T, B, H = ctx._check("GRU", gi, h0, weight_hh, 3)
        ctx.save_for_backward(gi, h0, weight_hh, bias_hh)
        ctx.kwargs = dict(mask=mask, reverse=reverse)
        dt = gi.dtype
        w = xp.ascontiguousarray(weight_hh.T)  # (H, G*H), row-major: the faster right operand
        if mask is None and fused_kernel_for(gi):  # one matmul and one cell kernel a step (cuda_pointwise.py)
            out, ctx.saved = gru_forward(gi, h0, w, bias_hh, reverse)
            return out
        acts = xp.empty((T, B, 3 * H), dtype=dt)   # r, z, n after their nonlinearities
        gh_n = xp.empty((T, B, H), dtype=dt)       # W_hn h + b_hn, what r multiplies
        h_prev = xp.empty((T, B, H), dtype=dt)
        out = xp.empty((T + 1, B, H), dtype=dt)
        m = _float_mask(mask, dt)
        h = h0
        for t in _order(T, reverse):
            h_prev[t] = h
            gh = h @ w
            if bias_hh is not None:
                gh += bias_hh
            a = acts[t]
            xp.add(gi[t, :, :2 * H], gh[:, :2 * H], out=a[:, :2 * H])
            _sigmoid_(a[:, :2 * H])
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            gh_n[t] = gh[:, 2 * H:]
            xp.multiply(r, gh_n[t], out=n)
            n += gi[t, :, 2 * H:]
            xp.tanh(n, out=n)
            h_new = h - n
            h_new *= z
            h_new += n
            if m is None:
                h = h_new
                out[t] = h_new
            else:
                h = h_new * m[t] + h * (1 - m[t])
                out[t] = h_new * m[t]
        out[T] = h
        ctx.saved = (acts, gh_n, h_prev, m)
        return out

    def fast_backward(ctx, gy):
        acts, gh_n, h_prev, m = ctx.saved
        _, _, weight_hh, bias_hh = ctx.saved_tensors
        W = weight_hh.data
        if m is None and fused_kernel_for(gy):
            return gru_backward(ctx.saved, gy, W, ctx.kwargs["reverse"], bias_hh is not None)
        T, B, G = acts.shape
        H = G // 3
        xp = xp_of(gy)
        dGi = xp.empty_like(acts)
        dGh = xp.empty_like(acts)
        dh = gy[T].copy()
        for t in reversed(_order(T, ctx.kwargs["reverse"])):
            a = acts[t]
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            if m is not None:  # a padded step passed the state through unchanged
                keep = dh * (1 - m[t])
                dh = (dh + gy[t]) * m[t]
            else:
                dh = dh + gy[t]
            dn_pre = dh * (1 - z) * (1 - n * n)
            dr_pre = dn_pre * gh_n[t] * r * (1 - r)
            dz_pre = dh * (h_prev[t] - n) * z * (1 - z)
            di, dhh = dGi[t], dGh[t]
            di[:, :H] = dr_pre
            di[:, H:2 * H] = dz_pre
            di[:, 2 * H:] = dn_pre
            dhh[:, :2 * H] = di[:, :2 * H]
            xp.multiply(dn_pre, r, out=dhh[:, 2 * H:])
            dh = dh * z + dhh @ W
            if m is not None:
                dh += keep
        dW = dGh.reshape(-1, G).T @ h_prev.reshape(-1, H)
        db = dGh.sum(axis=(0, 1)) if bias_hh is not None else None
        return dGi, dh, dW, db

    @staticmethod
    def composite(gi, h0, weight_hh, bias_hh=None, mask=None, reverse=False):
        def step(g, h):
            return gru_step(g, h, weight_hh, bias_hh)

        return _composite_scan(step, gi, (h0,), mask, reverse)
