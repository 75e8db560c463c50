"""Row-wise CUDA kernels (one block of threads per row): layer norm, softmax with cross-entropy, and
the causal softmax of attention, each beside its reference (the same computation as array operations).

A row's statistics (mean and variance, max and sum of exponentials) are reduced inside the block
(block_reduce_ in cuda_kernels.py), so that one kernel reads a row, reduces it and writes the result,
where the array path makes a kernel and a trip through memory for each step. They also keep less
for backward: layer norm keeps each row's mean and 1/std (not x-hat), cross-entropy its
log-sum-exp (not the log-probabilities), and attention's causal mask is never made at all.
See cuda_kernels.py for how these are compiled, dispatched and tested.
"""
from __future__ import annotations

from ..backend import xp_of
from .cuda_kernels import Kernels, i32, i64, row_threads, running_references, scalar

# -- layer norm ---------------------------------------------------------------------------------------
LAYER_NORM = Kernels("layer_norm", r"""
// y = (x - mean) / sqrt(var + eps) * w + b over each row of C values; mean and rstd = 1/sqrt(var + eps)
// are kept per row for backward. w and b are read only when has_w / has_b.
extern "C" __global__ void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                                              long long C, T eps, int has_w, int has_b) {
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    T* yr = y + row * C;
    T s = 0;
    for (long long j = threadIdx.x; j < C; j += blockDim.x) s += xr[j];
    const T mu = block_reduce_(s, false) / T(C);
    T q = 0;
    for (long long j = threadIdx.x; j < C; j += blockDim.x) { const T d = xr[j] - mu; q += d * d; }
    const T r = T(1) / sqrt_(block_reduce_(q, false) / T(C) + eps);
    for (long long j = threadIdx.x; j < C; j += blockDim.x) {
        T v = (xr[j] - mu) * r;
        if (has_w) v *= w[j];
        if (has_b) v += b[j];
        yr[j] = v;
    }
    if (threadIdx.x == 0) { mean[row] = mu; rstd[row] = r; }
}

// dL/dx = rstd (g - mean(g) - xhat mean(g xhat)) per row, with g = dL/dy w and xhat = (x - mean) rstd
extern "C" __global__ void layer_norm_backward(const T* x, const T* w, const T* gy, const T* mean, const T* rstd,
                                               T* gx, long long C, int has_w) {
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    const T* gr = gy + row * C;
    const T mu = mean[row], r = rstd[row];
    T sg = 0, sgx = 0;
    for (long long j = threadIdx.x; j < C; j += blockDim.x) {
        const T g = has_w ? gr[j] * w[j] : gr[j];
        sg += g;
        sgx += g * (xr[j] - mu) * r;
    }
    const T mg = block_reduce_(sg, false) / T(C);
    const T mgx = block_reduce_(sgx, false) / T(C);
    for (long long j = threadIdx.x; j < C; j += blockDim.x) {
        const T g = has_w ? gr[j] * w[j] : gr[j];
        gx[row * C + j] = r * (g - mg - (xr[j] - mu) * r * mgx);
    }
}

// dL/dw and dL/db, partly: block (x, y) sums dL/dy xhat and dL/dy over the rows of chunk y for the
// columns of x; the chunks are added up afterwards (rows * columns threads would be too few)
extern "C" __global__ void layer_norm_param_grads(const T* x, const T* gy, const T* mean, const T* rstd,
                                                  T* gw_part, T* gb_part, long long N, long long C,
                                                  long long rows_per_chunk) {
    const long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (j >= C) return;
    const long long first = blockIdx.y * rows_per_chunk;
    const long long last = first + rows_per_chunk < N ? first + rows_per_chunk : N;
    T sw = 0, sb = 0;
    for (long long i = first; i < last; ++i) {
        const T g = gy[i * C + j];
        sw += g * (x[i * C + j] - mean[i]) * rstd[i];
        sb += g;
    }
    gw_part[blockIdx.y * C + j] = sw;
    gb_part[blockIdx.y * C + j] = sb;
}
""", ("layer_norm_forward", "layer_norm_backward", "layer_norm_param_grads"))


def layer_norm_forward(x, weight, bias, eps):
    """x (N, C) -> (y, mean, rstd); weight and bias (C,) or None."""
    if running_references():
        return layer_norm_forward_reference(x, weight, bias, eps)
    xp = xp_of(x)
    N, C = x.shape
    x = xp.ascontiguousarray(x)
    y = xp.empty_like(x)
    mean, rstd = xp.empty(N, dtype=x.dtype), xp.empty(N, dtype=x.dtype)
    LAYER_NORM.launch("layer_norm_forward", x.dtype, N, row_threads(C),
                      (x, _as_t(weight, x), _as_t(bias, x), y, mean, rstd, i64(C), scalar(x.dtype, eps),
                       i32(weight is not None), i32(bias is not None)))
    return y, mean, rstd


def _as_t(a, like):
    """An argument array as the kernel reads it: contiguous, in the element type T of `like` (an
    absent optional array is passed as `like` itself, never read)."""
    return like if a is None else xp_of(like).ascontiguousarray(a, dtype=like.dtype)


_PARAM_COLUMNS = 128  # threads per block of layer_norm_param_grads (columns)
_PARAM_CHUNKS = 256   # row chunks: about 256 * ceil(C / 128) blocks


def layer_norm_backward(x, weight, gy, mean, rstd, want_params):
    """(dL/dx, dL/dw, dL/db) of rows x (N, C); the last two None unless want_params."""
    if running_references():
        return layer_norm_backward_reference(x, weight, gy, mean, rstd, want_params)
    xp = xp_of(x)
    N, C = x.shape
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    gx = xp.empty_like(x)
    LAYER_NORM.launch("layer_norm_backward", x.dtype, N, row_threads(C),
                      (x, _as_t(weight, x), gy, mean, rstd, gx, i64(C), i32(weight is not None)))
    if not want_params:
        return gx, None, None
    rows = -(-N // _PARAM_CHUNKS)
    chunks = -(-N // rows)
    gw_part, gb_part = xp.empty((chunks, C), dtype=x.dtype), xp.empty((chunks, C), dtype=x.dtype)
    LAYER_NORM.launch("layer_norm_param_grads", x.dtype, (-(-C // _PARAM_COLUMNS), chunks), _PARAM_COLUMNS,
                      (x, gy, mean, rstd, gw_part, gb_part, i64(N), i64(C), i64(rows)))
    return gx, gw_part.sum(axis=0), gb_part.sum(axis=0)


def layer_norm_forward_reference(x, weight, bias, eps):
    xp = xp_of(x)
    mean = x.mean(axis=1)
    xc = x - mean[:, None]
    rstd = 1 / xp.sqrt((xc * xc).mean(axis=1) + eps)
    y = xc * rstd[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean, rstd


def layer_norm_backward_reference(x, weight, gy, mean, rstd, want_params):
    xhat = (x - mean[:, None]) * rstd[:, None]
    g = gy * weight if weight is not None else gy
    gx = rstd[:, None] * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    if not want_params:
        return gx, None, None
    return gx, (gy * xhat).sum(axis=0), gy.sum(axis=0)


# -- softmax and cross-entropy ---------------------------------------------------------------------------
CROSS_ENTROPY = Kernels("cross_entropy", r"""
// Per row of C logits: lse = log sum_j exp(x_j), loss = (lse - x_t) w_row, with t the row's target
// class (already made safe: ignored rows have w_row = 0 and some valid t)
extern "C" __global__ void cross_entropy_forward(const T* x, const long long* target, const T* w_row,
                                                 T* loss, T* lse, long long C) {
    const long long row = blockIdx.x;
    const T* xr = x + row * C;
    T m = neg_inf_();
    for (long long j = threadIdx.x; j < C; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
    m = block_reduce_(m, true);
    T s = 0;
    for (long long j = threadIdx.x; j < C; j += blockDim.x) s += exp_(xr[j] - m);
    const T l = m + log_(block_reduce_(s, false));
    if (threadIdx.x == 0) { lse[row] = l; loss[row] = (l - xr[target[row]]) * w_row[row]; }
}

// dL/dx_j = (softmax(x)_j - [j = t]) w_row scale, scale[row * scale_stride] being the gradient
// reaching the row's loss (one number for a mean or a sum: stride 0)
extern "C" __global__ void cross_entropy_backward(const T* x, const long long* target, const T* w_row,
                                                  const T* lse, const T* scale, long long scale_stride,
                                                  T* gx, long long C) {
    const long long row = blockIdx.x;
    const T k = w_row[row] * scale[row * scale_stride], l = lse[row];
    const long long t = target[row];
    for (long long j = threadIdx.x; j < C; j += blockDim.x)
        gx[row * C + j] = (exp_(x[row * C + j] - l) - (j == t ? T(1) : T(0))) * k;
}
""", ("cross_entropy_forward", "cross_entropy_backward"))


def cross_entropy_forward(x, target, w_row):
    """Logits x (N, C), safe targets (N,) int64, row weights (N,) -> (loss per row, log-sum-exp per row)."""
    if running_references():
        return cross_entropy_forward_reference(x, target, w_row)
    xp = xp_of(x)
    N, C = x.shape
    x = xp.ascontiguousarray(x)
    loss, lse = xp.empty(N, dtype=x.dtype), xp.empty(N, dtype=x.dtype)
    CROSS_ENTROPY.launch("cross_entropy_forward", x.dtype, N, row_threads(C),
                         (x, xp.ascontiguousarray(target, dtype="int64"), _as_t(w_row, x), loss, lse, i64(C)))
    return loss, lse


def cross_entropy_backward(x, target, w_row, lse, scale):
    """dL/dx (N, C); scale: the gradient reaching each row's loss, one number (0-d) or one per row (N,)."""
    if running_references():
        return cross_entropy_backward_reference(x, target, w_row, lse, scale)
    xp = xp_of(x)
    N, C = x.shape
    x = xp.ascontiguousarray(x)
    scale = _as_t(scale, x).reshape(-1)
    gx = xp.empty_like(x)
    CROSS_ENTROPY.launch("cross_entropy_backward", x.dtype, N, row_threads(C),
                         (x, xp.ascontiguousarray(target, dtype="int64"), _as_t(w_row, x), lse, scale,
                          i64(0 if scale.size == 1 else 1), gx, i64(C)))
    return gx


def cross_entropy_forward_reference(x, target, w_row):
    xp = xp_of(x)
    m = x.max(axis=1)
    lse = m + xp.log(xp.exp(x - m[:, None]).sum(axis=1))
    picked = xp.take_along_axis(x, target[:, None], axis=1)[:, 0]
    return (lse - picked) * w_row, lse


def cross_entropy_backward_reference(x, target, w_row, lse, scale):
    xp = xp_of(x)
    g = xp.exp(x - lse[:, None])
    xp.put_along_axis(g, target[:, None], xp.take_along_axis(g, target[:, None], axis=1) - 1, axis=1)
    return g * (w_row * scale.reshape(-1))[:, None]


# -- attention's softmax ----------------------------------------------------------------------------------
ATTENTION_SOFTMAX = Kernels("attention_softmax", r"""
// In place, per row of S scores s (rows: every (batch, head, query), L queries a group): p = softmax(s scale)
// over the keys the query may see, 0 elsewhere. With causal, query i (row % L) sees keys j <= i + offset;
// a query that sees none gets a row of zeros. No mask array is read or made.
extern "C" __global__ void attention_softmax_forward(T* s, long long L, long long S, long long offset, T scale,
                                                     int causal) {
    const long long row = blockIdx.x;
    T* sr = s + row * S;
    long long last = S - 1;
    if (causal) { const long long i = row % L + offset; last = i < last ? i : last; }
    T m = neg_inf_();
    for (long long j = threadIdx.x; j <= last; j += blockDim.x) { const T v = sr[j] * scale; m = v > m ? v : m; }
    m = block_reduce_(m, true);
    T sum = 0;
    for (long long j = threadIdx.x; j <= last; j += blockDim.x) sum += exp_(sr[j] * scale - m);
    sum = block_reduce_(sum, false);
    const T inv = last >= 0 ? T(1) / sum : T(0);
    for (long long j = threadIdx.x; j < S; j += blockDim.x) sr[j] = j <= last ? exp_(sr[j] * scale - m) * inv : T(0);
}

// In place, per row: dL/ds = scale p (g - sum_j g_j p_j) with g = dL/dp keep (keep: the dropout
// mask, scaled, read when has_keep); gp holds dL/dp on entry and dL/ds on exit
extern "C" __global__ void attention_softmax_backward(T* gp, const T* p, const T* keep, int has_keep,
                                                      long long S, T scale) {
    const long long row = blockIdx.x;
    T* gr = gp + row * S;
    const T* pr = p + row * S;
    const T* kr = keep + row * S;
    T d = 0;
    for (long long j = threadIdx.x; j < S; j += blockDim.x) d += (has_keep ? gr[j] * kr[j] : gr[j]) * pr[j];
    d = block_reduce_(d, false);
    for (long long j = threadIdx.x; j < S; j += blockDim.x)
        gr[j] = scale * pr[j] * ((has_keep ? gr[j] * kr[j] : gr[j]) - d);
}
""", ("attention_softmax_forward", "attention_softmax_backward"))


def attention_softmax(s, scale, causal, offset=0):
    """softmax(s * scale) over the last dim, in place on the scores s (..., L, S), causally masked
    (query i sees keys j <= i + offset) when asked; returns s."""
    if running_references():
        return attention_softmax_reference(s, scale, causal, offset)
    L, S = s.shape[-2:]
    ATTENTION_SOFTMAX.launch("attention_softmax_forward", s.dtype, s.size // S, row_threads(S),
                             (s, i64(L), i64(S), i64(offset), scalar(s.dtype, scale), i32(causal)))
    return s


def attention_softmax_backward(gp, p, keep, scale):
    """dL/ds from dL/dp (in place on gp) for p = softmax(s * scale), the dropout mask keep applied after p."""
    if running_references():
        return attention_softmax_backward_reference(gp, p, keep, scale)
    S = p.shape[-1]
    ATTENTION_SOFTMAX.launch("attention_softmax_backward", p.dtype, p.size // S, row_threads(S),
                             (gp, p, _as_t(keep, p), i32(keep is not None), i64(S), scalar(p.dtype, scale)))
    return gp


def attention_softmax_reference(s, scale, causal, offset=0):
    xp = xp_of(s)
    L, S = s.shape[-2:]
    z = s * scale
    if causal:
        seen = xp.arange(S)[None, :] <= xp.arange(L)[:, None] + offset
        z = xp.where(seen, z, -xp.inf)
        m = z.max(axis=-1, keepdims=True)
        e = xp.exp(z - xp.where(m == -xp.inf, 0, m))  # a row that sees nothing: exp(-inf) = 0 throughout
        total = e.sum(axis=-1, keepdims=True)
        s[...] = e / xp.where(total == 0, 1, total)
        return s
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    s[...] = e / e.sum(axis=-1, keepdims=True)
    return s


def attention_softmax_backward_reference(gp, p, keep, scale):
    g = gp * keep if keep is not None else gp
    gp[...] = scale * p * (g - (g * p).sum(axis=-1, keepdims=True))
    return gp
