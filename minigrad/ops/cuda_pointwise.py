"""Elementwise CUDA kernels (one thread per element): GELU and its derivative, and the LSTM and GRU
cells, forward and backward, each beside its reference (the same formula as array operations).

The recurrent layers' time loops here (`lstm_forward`, `gru_backward`, ...) make one matmul and one
cell kernel per step, where the array path makes one matmul and about fifteen elementwise ops.
They run the layers without padding; a padded batch (lengths=) takes the array path.
See cuda_kernels.py for how these are compiled, dispatched and tested.
"""
from __future__ import annotations

import math

from ..backend import xp_of
from .cuda_kernels import THREADS, Kernels, blocks_for, i32, i64, running_references
from .special import normal_cdf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# -- GELU ---------------------------------------------------------------------------------------------------
GELU = Kernels("gelu", r"""
// exact:  y = x Phi(x),  Phi(x) = erfc(-x / sqrt 2) / 2       dy/dx = Phi(x) + x phi(x)
// tanh:   y = x (1 + tanh(u)) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3)
//         dy/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2,  t = tanh(u)
extern "C" __global__ void gelu_forward(const T* x, T* y, long long n, int tanh_form) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= n) return;
    const T v = x[k];
    if (tanh_form) {
        const T u = T(0.7978845608028654) * (v + T(0.044715) * v * v * v);
        y[k] = T(0.5) * v * (T(1) + tanh_(u));
    } else {
        y[k] = T(0.5) * v * erfc_(v * T(-0.7071067811865476));
    }
}

extern "C" __global__ void gelu_backward(const T* x, const T* gy, T* gx, long long n, int tanh_form) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= n) return;
    const T v = x[k];
    T d;
    if (tanh_form) {
        const T t = tanh_(T(0.7978845608028654) * (v + T(0.044715) * v * v * v));
        const T du = T(0.7978845608028654) * (T(1) + T(3 * 0.044715) * v * v);
        d = T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du;
    } else {
        const T cdf = T(0.5) * erfc_(v * T(-0.7071067811865476));
        const T pdf = T(0.3989422804014327) * exp_(T(-0.5) * v * v);
        d = cdf + v * pdf;
    }
    gx[k] = gy[k] * d;
}
""", ("gelu_forward", "gelu_backward"))


def gelu_forward(x, approximate: str):
    """GELU of x (the kernel keeps nothing: backward recomputes Phi from x)."""
    if running_references():
        return gelu_reference(x, approximate)
    x = xp_of(x).ascontiguousarray(x)
    y = xp_of(x).empty_like(x)
    GELU.launch("gelu_forward", x.dtype, blocks_for(x.size), THREADS, (x, y, i64(x.size), i32(approximate == "tanh")))
    return y


def gelu_backward(x, gy, approximate: str):
    """dL/dx = dL/dy * GELU'(x)."""
    if running_references():
        return gelu_backward_reference(x, gy, approximate)
    xp = xp_of(x)
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    gx = xp.empty_like(x)
    GELU.launch("gelu_backward", x.dtype, blocks_for(x.size), THREADS,
                (x, gy, gx, i64(x.size), i32(approximate == "tanh")))
    return gx


def gelu_reference(x, approximate: str):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp_of(x).tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return x * normal_cdf(x)


def gelu_backward_reference(x, gy, approximate: str):
    xp = xp_of(x)
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    return gy * (normal_cdf(x) + x * (_INV_SQRT_2PI * xp.exp(-0.5 * x * x)))


# -- the LSTM cell ------------------------------------------------------------------------------------
LSTM = Kernels("lstm_cell", r"""
// One step for every (b, j), b < B, j < H. a: h W_hh^T (B, 4H), overwritten by the gates after
// their nonlinearities (i, f, g, o); x: x_t W_ih^T + b_ih + b_hh (B, 4H); c: c_{t-1}, overwritten
// by c_t. h_save, c_save keep h_{t-1} and c_{t-1} for backward, tanh_c keeps tanh(c_t), h_out gets h_t.
extern "C" __global__ void lstm_cell_forward(T* a, const T* x, const T* h, T* c, T* h_save, T* c_save,
                                             T* tanh_c, T* h_out, long long B, long long H) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= B * H) return;
    const long long b = k / H, j = k - b * H, row = b * 4 * H;
    const T i = sigmoid_(a[row + j] + x[row + j]);
    const T f = sigmoid_(a[row + H + j] + x[row + H + j]);
    const T g = tanh_(a[row + 2 * H + j] + x[row + 2 * H + j]);
    const T o = sigmoid_(a[row + 3 * H + j] + x[row + 3 * H + j]);
    a[row + j] = i; a[row + H + j] = f; a[row + 2 * H + j] = g; a[row + 3 * H + j] = o;
    const T c_old = c[k];
    const T c_new = f * c_old + i * g;
    const T tc = tanh_(c_new);
    h_save[k] = h[k];
    c_save[k] = c_old;
    tanh_c[k] = tc;
    c[k] = c_new;
    h_out[k] = o * tc;
}

// Backward through one step. dh_in: dL/dh_t from the later steps (dG_{t+1} W_hh); gy: from the
// output at t; dc: dL/dc_t in, dL/dc_{t-1} out. dG gets the gates' pre-activation gradients (B, 4H).
extern "C" __global__ void lstm_cell_backward(const T* acts, const T* c_prev, const T* tanh_c, const T* gy,
                                              const T* dh_in, T* dc, T* dG, long long B, long long H) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= B * H) return;
    const long long b = k / H, j = k - b * H, row = b * 4 * H;
    const T i = acts[row + j], f = acts[row + H + j], g = acts[row + 2 * H + j], o = acts[row + 3 * H + j];
    const T tc = tanh_c[k];
    const T dh = dh_in[k] + gy[k];
    const T oh = dh * o;
    const T dct = dc[k] + oh * (T(1) - tc * tc);
    dG[row + j] = dct * g * i * (T(1) - i);
    dG[row + H + j] = dct * c_prev[k] * f * (T(1) - f);
    dG[row + 2 * H + j] = dct * i * (T(1) - g * g);
    dG[row + 3 * H + j] = oh * tc * (T(1) - o);  // dh tc o (1 - o)
    dc[k] = dct * f;
}
""", ("lstm_cell_forward", "lstm_cell_backward"))


def lstm_cell_forward(a, x, h, c, h_save, c_save, tanh_c, h_out):
    """One LSTM step, in place (see the kernel's comment for what each array holds)."""
    if running_references():
        return lstm_cell_forward_reference(a, x, h, c, h_save, c_save, tanh_c, h_out)
    B, H = c.shape
    LSTM.launch("lstm_cell_forward", a.dtype, blocks_for(B * H), THREADS,
                (a, x, h, c, h_save, c_save, tanh_c, h_out, i64(B), i64(H)))


def lstm_cell_backward(acts, c_prev, tanh_c, gy, dh_in, dc, dG):
    """Backward through one LSTM step, in place: dc becomes dL/dc_{t-1}, dG the gates' gradients."""
    if running_references():
        return lstm_cell_backward_reference(acts, c_prev, tanh_c, gy, dh_in, dc, dG)
    B, H = dc.shape
    LSTM.launch("lstm_cell_backward", acts.dtype, blocks_for(B * H), THREADS,
                (acts, c_prev, tanh_c, gy, dh_in, dc, dG, i64(B), i64(H)))


def lstm_cell_forward_reference(a, x, h, c, h_save, c_save, tanh_c, h_out):
    xp = xp_of(a)
    H = c.shape[1]
    z = a + x
    acts = 1 / (1 + xp.exp(-z))
    acts[:, 2 * H:3 * H] = xp.tanh(z[:, 2 * H:3 * H])
    i, f, g, o = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
    c_new = f * c + i * g
    tc = xp.tanh(c_new)
    h_save[...], c_save[...], tanh_c[...] = h, c, tc
    a[...], c[...], h_out[...] = acts, c_new, o * tc


def lstm_cell_backward_reference(acts, c_prev, tanh_c, gy, dh_in, dc, dG):
    H = dc.shape[1]
    i, f, g, o = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
    oh = (dh_in + gy) * o
    dct = dc + oh * (1 - tanh_c * tanh_c)
    dG[:, :H] = dct * g * i * (1 - i)
    dG[:, H:2 * H] = dct * c_prev * f * (1 - f)
    dG[:, 2 * H:3 * H] = dct * i * (1 - g * g)
    dG[:, 3 * H:] = oh * tanh_c * (1 - o)
    dc[...] = dct * f


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def lstm_forward(x, h0, c0, w, reverse):
    """The LSTM layer's time loop without padding: per step one matmul h W_hh^T and one cell kernel.

    x: (T, B, 4H), the input's share of the gates with both biases; w: W_hh^T (H, 4H).
    Returns [h_1 .. h_T, h_n, c_n] stacked (T + 2, B, H) and what backward needs (LSTMScan's
    layout): (acts, h_prev, c_prev, tanh_c, None)."""
    xp = xp_of(x)
    T, B, G = x.shape
    H = G // 4
    x, h0 = xp.ascontiguousarray(x), xp.ascontiguousarray(h0)  # the cell kernel reads rows of B x H
    acts = xp.empty((T, B, G), dtype=x.dtype)
    h_prev, c_prev, tanh_c = (xp.empty((T, B, H), dtype=x.dtype) for _ in range(3))
    out = xp.empty((T + 2, B, H), dtype=x.dtype)
    h, c = h0, out[T + 1]
    c[...] = c0
    for t in _order(T, reverse):
        xp.matmul(h, w, out=acts[t])
        lstm_cell_forward(acts[t], x[t], h, c, h_prev[t], c_prev[t], tanh_c[t], out[t])
        h = out[t]
    out[T] = h
    return out, (acts, h_prev, c_prev, tanh_c, None)


def lstm_backward(saved, gy, W, reverse, has_bias):
    """LSTMScan's gradients (gi, h0, c0, W_hh, b_hh) from the cell kernel, step by step in reverse."""
    acts, h_prev, c_prev, tanh_c, _ = saved
    xp = xp_of(gy)
    gy = xp.ascontiguousarray(gy)
    T, B, G = acts.shape
    H = G // 4
    dG = xp.empty_like(acts)
    dh = gy[T].copy()
    dc = gy[T + 1].copy()
    for t in reversed(_order(T, reverse)):
        lstm_cell_backward(acts[t], c_prev[t], tanh_c[t], gy[t], dh, dc, dG[t])
        xp.matmul(dG[t], W, out=dh)
    dW = dG.reshape(-1, G).T @ h_prev.reshape(-1, H)
    return dG, dh, dc, dW, (dG.sum(axis=(0, 1)) if has_bias else None)


# -- the GRU cell (PyTorch's form: the reset gate applies after the matmul) -------------------------------
GRU = Kernels("gru_cell", r"""
// One step for every (b, j). gi: x_t W_ih^T + b_ih (B, 3H); gh: h W_hh^T (B, 3H), without b_hh
// (added here when has_bias). acts gets r, z, n (B, 3H); gh_n gets W_hn h + b_hn (what r scales);
// h_save keeps h_{t-1}; h_out gets h_t = (1 - z) n + z h_{t-1}.
extern "C" __global__ void gru_cell_forward(const T* gi, const T* gh, const T* bias, int has_bias, const T* h,
                                            T* acts, T* gh_n, T* h_save, T* h_out, long long B, long long H) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= B * H) return;
    const long long b = k / H, j = k - b * H, row = b * 3 * H;
    const T b_r = has_bias ? bias[j] : T(0), b_z = has_bias ? bias[H + j] : T(0);
    const T b_n = has_bias ? bias[2 * H + j] : T(0);
    const T r = sigmoid_(gi[row + j] + gh[row + j] + b_r);
    const T z = sigmoid_(gi[row + H + j] + gh[row + H + j] + b_z);
    const T hn = gh[row + 2 * H + j] + b_n;
    const T n = tanh_(gi[row + 2 * H + j] + r * hn);
    const T hp = h[k];
    acts[row + j] = r; acts[row + H + j] = z; acts[row + 2 * H + j] = n;
    gh_n[k] = hn;
    h_save[k] = hp;
    h_out[k] = n + z * (hp - n);
}

// Backward through one step. dL/dh_t = dh_a + dh_b + gy: dh_a carries dh_{t+1} z_{t+1}, dh_b is
// dGh_{t+1} W_hh (a matmul's output). dh_a gets dh_t z_t for the next step back; dGi and dGh get
// the gradients of the input's and the hidden state's shares of the gates (B, 3H).
extern "C" __global__ void gru_cell_backward(const T* acts, const T* gh_n, const T* h_prev, const T* gy,
                                             T* dh_a, const T* dh_b, T* dGi, T* dGh, long long B, long long H) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= B * H) return;
    const long long b = k / H, j = k - b * H, row = b * 3 * H;
    const T r = acts[row + j], z = acts[row + H + j], n = acts[row + 2 * H + j];
    const T dh = dh_a[k] + dh_b[k] + gy[k];
    const T dn = dh * (T(1) - z) * (T(1) - n * n);
    const T dr = dn * gh_n[k] * r * (T(1) - r);
    const T dz = dh * (h_prev[k] - n) * z * (T(1) - z);
    dGi[row + j] = dr; dGi[row + H + j] = dz; dGi[row + 2 * H + j] = dn;
    dGh[row + j] = dr; dGh[row + H + j] = dz; dGh[row + 2 * H + j] = dn * r;
    dh_a[k] = dh * z;
}
""", ("gru_cell_forward", "gru_cell_backward"))


def gru_cell_forward(gi, gh, bias, h, acts, gh_n, h_save, h_out):
    """One GRU step (see the kernel's comment); bias is b_hh or None."""
    if running_references():
        return gru_cell_forward_reference(gi, gh, bias, h, acts, gh_n, h_save, h_out)
    B, H = h_out.shape
    GRU.launch("gru_cell_forward", gi.dtype, blocks_for(B * H), THREADS,
               (gi, gh, bias if bias is not None else gh, i32(bias is not None), h, acts, gh_n, h_save, h_out,
                i64(B), i64(H)))


def gru_cell_backward(acts, gh_n, h_prev, gy, dh_a, dh_b, dGi, dGh):
    if running_references():
        return gru_cell_backward_reference(acts, gh_n, h_prev, gy, dh_a, dh_b, dGi, dGh)
    B, H = dh_a.shape
    GRU.launch("gru_cell_backward", acts.dtype, blocks_for(B * H), THREADS,
               (acts, gh_n, h_prev, gy, dh_a, dh_b, dGi, dGh, i64(B), i64(H)))


def gru_cell_forward_reference(gi, gh, bias, h, acts, gh_n, h_save, h_out):
    xp = xp_of(gi)
    H = h.shape[1]
    if bias is not None:
        gh = gh + bias
    rz = 1 / (1 + xp.exp(-(gi[:, :2 * H] + gh[:, :2 * H])))
    r, z = rz[:, :H], rz[:, H:]
    n = xp.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    acts[:, :2 * H], acts[:, 2 * H:] = rz, n
    gh_n[...], h_save[...], h_out[...] = gh[:, 2 * H:], h, n + z * (h - n)


def gru_cell_backward_reference(acts, gh_n, h_prev, gy, dh_a, dh_b, dGi, dGh):
    H = dh_a.shape[1]
    r, z, n = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:]
    dh = dh_a + dh_b + gy
    dn = dh * (1 - z) * (1 - n * n)
    dr = dn * gh_n * r * (1 - r)
    dz = dh * (h_prev - n) * z * (1 - z)
    dGi[:, :H], dGi[:, H:2 * H], dGi[:, 2 * H:] = dr, dz, dn
    dGh[:, :H], dGh[:, H:2 * H], dGh[:, 2 * H:] = dr, dz, dn * r
    dh_a[...] = dh * z


def gru_forward(gi, h0, w, bias_hh, reverse):
    """The GRU layer's time loop without padding: per step one matmul h W_hh^T and one cell kernel.
    Returns [h_1 .. h_T, h_n] stacked (T + 1, B, H) and GRUScan's saved arrays (acts, gh_n, h_prev, None)."""
    xp = xp_of(gi)
    T, B, G = gi.shape
    H = G // 3
    gi, h0 = xp.ascontiguousarray(gi), xp.ascontiguousarray(h0)  # the cell kernel reads rows of B x 3H
    bias_hh = None if bias_hh is None else xp.ascontiguousarray(bias_hh, dtype=gi.dtype)
    acts = xp.empty((T, B, G), dtype=gi.dtype)
    gh_n, h_prev = xp.empty((T, B, H), dtype=gi.dtype), xp.empty((T, B, H), dtype=gi.dtype)
    gh = xp.empty((B, G), dtype=gi.dtype)
    out = xp.empty((T + 1, B, H), dtype=gi.dtype)
    h = h0
    for t in _order(T, reverse):
        xp.matmul(h, w, out=gh)
        gru_cell_forward(gi[t], gh, bias_hh, h, acts[t], gh_n[t], h_prev[t], out[t])
        h = out[t]
    out[T] = h
    return out, (acts, gh_n, h_prev, None)


def gru_backward(saved, gy, W, reverse, has_bias):
    """GRUScan's gradients (gi, h0, W_hh, b_hh) from the cell kernel, step by step in reverse."""
    acts, gh_n, h_prev, _ = saved
    xp = xp_of(gy)
    gy = xp.ascontiguousarray(gy)
    T, B, G = acts.shape
    H = G // 3
    dGi, dGh = xp.empty_like(acts), xp.empty_like(acts)
    dh_a, dh_b = gy[T].copy(), xp.zeros_like(gy[T])
    for t in reversed(_order(T, reverse)):
        gru_cell_backward(acts[t], gh_n[t], h_prev[t], gy[t], dh_a, dh_b, dGi[t], dGh[t])
        xp.matmul(dGh[t], W, out=dh_b)
    dW = dGh.reshape(-1, G).T @ h_prev.reshape(-1, H)
    return dGi, dh_a + dh_b, dW, (dGh.sum(axis=(0, 1)) if has_bias else None)
