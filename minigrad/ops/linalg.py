"""Matrix multiplication with numpy's rules (1-D operands, batched and broadcast leading dims), and
the attention-weighted sum of Bahdanau's decoder."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp_of
from ._util import unbroadcast
from .shape import Permute


def _mT(t):
    """The last two dims swapped. A gradient is a temporary nothing writes into, so this skips
    the bookkeeping of a user-facing view (Tensor.mT)."""
    return Permute.apply(t, (1, 0) if t.ndim == 2 else tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2))


class MatMul(Function):
    """Z = X @ Y    dL/dX = dL/dZ @ Y^T,  dL/dY = X^T @ dL/dZ   (summed over broadcast batch dims)

    A 1-D X is treated as a row (1, k) and a 1-D Y as a column (k, 1), and the extra dim is
    removed again, exactly as numpy and PyTorch do.
    """

    def forward(ctx, x, y):
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {x.shape} and {y.shape}; use * for scalars")
        if x.dtype != y.dtype:
            raise RuntimeError(
                f"matmul: operands of dtype {x.dtype} and {y.dtype}: a matrix product needs the same dtype "
                "for both (PyTorch does not promote here). Convert one, e.g. b.to(a.dtype) or .double()"
            )
        kx = x.shape[-1]
        ky = y.shape[-2] if y.ndim > 1 else y.shape[0]
        if kx != ky:
            raise ValueError(
                f"matmul: shapes {x.shape} and {y.shape} do not fit: the last dim of the first "
                f"({kx}) must equal the {'second-to-last' if y.ndim > 1 else 'only'} dim of the second ({ky})"
            )
        ctx.save_for_backward(x, y)
        return x @ y

    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        if x.ndim == 2 and y.ndim == 2:  # the common case: two matrices, nothing to sum or squeeze
            return (gz @ _mT(y) if need_x else None), (_mT(x) @ gz if need_y else None)
        xs, ys = x.shape, y.shape
        if x.ndim == 1 and y.ndim == 1:  # dot product: z is a scalar
            return (gz * y if need_x else None), (gz * x if need_y else None)
        x2 = x.unsqueeze(0) if x.ndim == 1 else x
        y2 = y.unsqueeze(-1) if y.ndim == 1 else y
        g2 = gz
        if x.ndim == 1:
            g2 = g2.unsqueeze(-2)
        if y.ndim == 1:
            g2 = g2.unsqueeze(-1)
        gx = gy = None
        if need_x:
            if y2.ndim == 2 and x2.ndim > 2:
                gx = g2 @ _mT(y2)  # no batch dims to sum
            else:
                gx = unbroadcast(g2 @ _mT(y2), x2.shape)
            gx = gx.reshape(xs)
        if need_y:
            if y2.ndim == 2 and x2.ndim > 2:
                # a shared weight: fold the batch dims into one big matmul instead of summing
                # a batch of small products afterwards
                k, n = y2.shape
                gy = _mT(x2.reshape(-1, k)) @ g2.reshape(-1, n)
            else:
                gy = unbroadcast(_mT(x2) @ g2, y2.shape)
            gy = gy.reshape(ys)
        return gx, gy

    def reads_saved_input(ctx, i):
        return ctx.needs_input_grad[1 - i]  # Y for dL/dX, X for dL/dY


class WeightedSum(Function):
    """c_b = sum_s a_bs k_bs    dL/da_bs = k_bs . g_b,  dL/dk_bs = a_bs g_b

    One batched matmul, (B, 1, S) @ (B, S, D). Written as its own node (rather than with the
    MatMul op) because MatMul's backward forms dL/dk as the outer product a^T @ g, a matmul with a
    contracted dim of 1, which numpy runs ~5-10x slower than the broadcast product used here.
    """

    def forward(ctx, a, k):
        xp = xp_of(k)
        ctx.save_for_backward(a, k)
        return xp.matmul(a[:, None, :], xp.ascontiguousarray(k))[:, 0]

    def backward(ctx, g):
        a, k = ctx.saved_tensors
        need_a, need_k = ctx.needs_input_grad
        ga = (k @ g.unsqueeze(-1)).squeeze(-1) if need_a else None
        gk = a.unsqueeze(-1) * g.unsqueeze(1) if need_k else None
        return ga, gk
