"""Gradient clipping: rescale or cut the gradients in place before optimizer.step().

clip_grad_norm_ treats all the gradients as one long vector g and, when its norm exceeds
max_norm, scales it down to (about) max_norm, keeping its direction:

    total_norm = ||(||g_1||, ||g_2||, ...)||        (the norm of all the gradients together)
    g_i = g_i * min(1, max_norm / (total_norm + 1e-6))

The 1e-6 keeps the division finite when every gradient is zero; it is PyTorch's constant,
so a clipped norm comes out a hair under max_norm, exactly as there.
"""
from __future__ import annotations

import math

from ..backend import xp_of
from ..tensor import Tensor


def _grads(parameters, who):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected Tensors (e.g. model.parameters()), got a {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) -> Tensor:
    """Scale the gradients in place so their total norm is at most max_norm; return the total
    norm they had before (a 0-d Tensor, as in PyTorch). norm_type: any p > 0, or inf (max |g|)."""
    who = "clip_grad_norm_"
    norm_type = float(norm_type)
    max_norm = float(max_norm)
    if not norm_type > 0:
        raise ValueError(f"{who}: norm_type must be > 0 (or inf), got {norm_type}")
    grads = _grads(parameters, who)
    if not grads:
        return Tensor(0.0)
    xp = xp_of(grads[0].data)
    # the norm of each gradient, then the norm of those norms: equal to the norm of everything
    # concatenated, without building the concatenation
    norms = [xp.linalg.norm(g.data.ravel(), ord=norm_type) for g in grads]
    if any(xp_of(n) is not xp for n in norms):
        raise RuntimeError(f"{who}: the gradients live on different devices; move the model to one device")
    total_norm = xp.linalg.norm(xp.stack(norms), ord=norm_type)
    if error_if_nonfinite:  # the one case that must read the norm on the host (a sync on a GPU)
        total = float(total_norm)
        if not math.isfinite(total):
            raise RuntimeError(
                f"{who}: the total norm of order {norm_type} of the gradients is {total}, so they cannot be "
                "clipped. Set error_if_nonfinite=False to let it pass (the gradients then become nan)"
            )
    # min(max_norm / (norm + 1e-6), 1) stays on the gradients' device, and every gradient is scaled
    # by it (by 1 when the norm is small): the host never waits for the device. A nan/inf norm
    # spreads to the gradients, as in PyTorch.
    clip_coef = xp.minimum(max_norm / (total_norm + 1e-6), 1.0)
    for g in grads:
        g.data *= clip_coef.astype(g.dtype, copy=False)
        g._version[0] += 1
    return Tensor._make(xp.asarray(total_norm, dtype=grads[0].dtype), False, None)


def clip_grad_value_(parameters, clip_value) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        xp_of(g.data).clip(g.data, -clip_value, clip_value, out=g.data)
        g._version[0] += 1
