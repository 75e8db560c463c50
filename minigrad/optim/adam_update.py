"""One Adam(W) update of raw arrays, in place: the formula as array operations, and the same formula
as one CUDA kernel (on a GPU: one launch instead of about a dozen, per parameter or per flat buffer
of parameters, see multi_tensor.py). adam.py documents the formula; ops/cuda_kernels.py how kernels
are compiled, dispatched and tested.
"""
from __future__ import annotations

import math

from ..backend import xp_of
from ..ops.cuda_kernels import THREADS, Kernels, blocks_for, i32, i64, on, running_references, scalar

ADAM = Kernels("adam_step", r"""
// One element of p, m, v per thread: (decoupled ? p *= 1 - lr wd : g += wd p); m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; p -= step_size m / (sqrt(v) / bias_correction2_sqrt + eps)
extern "C" __global__ void adam_step(T* p, const T* g, T* m, T* v, long long n, T lr, T beta1, T beta2, T eps,
                                     T weight_decay, T step_size, T bias_correction2_sqrt, int decoupled,
                                     int maximize) {
    long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (k >= n) return;
    T gk = maximize ? -g[k] : g[k];
    T pk = p[k];
    if (decoupled) pk *= T(1) - lr * weight_decay;
    else gk += weight_decay * pk;
    const T mk = beta1 * m[k] + (T(1) - beta1) * gk;
    const T vk = beta2 * v[k] + (T(1) - beta2) * gk * gk;
    m[k] = mk;
    v[k] = vk;
    p[k] = pk - step_size * mk / (sqrt_(vk) / bias_correction2_sqrt + eps);
}
""", ("adam_step",))


def adam_update(p, g, m, v, v_max, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """Update p, m, v (and v_max, with amsgrad) in place for step number `step` (1, 2, ...)."""
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    if (v_max is None and on(p) and p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous
            and not running_references()):
        ADAM.launch("adam_step", p.dtype, blocks_for(p.size), THREADS,
                    (p, xp_of(g).ascontiguousarray(g, dtype=p.dtype), m, v, i64(p.size), *(scalar(p.dtype, x) for x in (
                        lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt)),
                     i32(decoupled), i32(maximize)))
        return
    xp = xp_of(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    scratch = g * g  # the one temporary array of the update, reused below
    scratch *= 1 - beta2
    v *= beta2
    v += scratch
    if v_max is not None:
        v = xp.maximum(v_max, v, out=v_max)
    denom = xp.sqrt(v, out=scratch)  # sqrt(v_hat) + eps, in the scratch array
    denom /= bias_correction2_sqrt
    denom += eps
    update = xp.divide(m, denom, out=scratch)
    update *= step_size
    p -= update
