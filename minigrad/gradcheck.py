"""Check analytical gradients against finite differences, like torch.autograd.gradcheck.

Run in float64: central differences with eps=1e-6 are accurate to about 1e-9 there, while
float32 rounding would drown the comparison.
"""
from __future__ import annotations

import numpy as np

from . import autograd
from .tensor import Tensor


def _outputs(fn, inputs):
    out = fn(*inputs)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _numerical_jacobian(fn, inputs, wrt, eps):
    """J[k] has shape (total output size, input size) for each input k in wrt."""
    jac = []
    for k in wrt:
        x = inputs[k]
        if not x.data.flags.c_contiguous:  # reshape(-1) must be a view, or the nudges are lost
            x.data = x.data.copy()
        flat = x.data.reshape(-1)
        cols = []
        for j in range(flat.size):
            orig = flat[j].item()
            flat[j] = orig + eps
            plus = np.concatenate([o.numpy().reshape(-1) for o in _outputs(fn, inputs)])
            flat[j] = orig - eps
            minus = np.concatenate([o.numpy().reshape(-1) for o in _outputs(fn, inputs)])
            flat[j] = orig
            cols.append((plus - minus) / (2 * eps))
        if not cols:  # an empty input: a Jacobian with no columns
            n_out = sum(o.data.size for o in _outputs(fn, inputs))
            jac.append(np.zeros((n_out, 0)))
            continue
        jac.append(np.stack(cols, axis=1))
    return jac


def _analytical_jacobian(fn, inputs, wrt):
    outs = _outputs(fn, inputs)
    rows = [[] for _ in wrt]
    for oi, out in enumerate(outs):
        for e in range(out.data.size):
            grad_outputs = []
            for oj, o in enumerate(outs):
                g = o.xp.zeros(o.shape, dtype=o.dtype)  # on the output's device
                if oj == oi:
                    g.reshape(-1)[e] = 1
                grad_outputs.append(Tensor._make(g, False, None))
            grads = autograd.grad(
                [o for o in outs], [inputs[k] for k in wrt], grad_outputs,
                retain_graph=True, allow_unused=True,
            )
            for r, (k, g) in enumerate(zip(wrt, grads)):
                rows[r].append(np.zeros(inputs[k].data.size) if g is None else g.numpy().reshape(-1))
    # an empty output: a Jacobian with no rows
    return [np.stack(r, axis=0) if r else np.zeros((0, inputs[k].data.size)) for k, r in zip(wrt, rows)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when the gradients of fn at inputs match central finite differences.

    fn takes the inputs (Tensors; those with requires_grad=True are checked) and returns a
    Tensor or a tuple of Tensors. Use float64 inputs.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in wrt:
        if inputs[i].dtype != np.float64:
            import warnings

            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}; float64 is needed for a reliable check")
    if any(not o.requires_grad for o in _outputs(fn, inputs)):
        raise RuntimeError("gradcheck: an output does not require grad; no input with requires_grad=True reaches it")
    numerical = _numerical_jacobian(fn, inputs, wrt, eps)
    analytical = _analytical_jacobian(fn, inputs, wrt)
    for k, n, a in zip(wrt, numerical, analytical):
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            if raise_exception:
                worst = np.unravel_index(np.argmax(np.abs(a - n)), a.shape)
                raise AssertionError(
                    f"gradcheck: Jacobian mismatch for input {k} (shape {tuple(inputs[k].shape)}): "
                    f"max abs difference {np.abs(a - n).max():.3e} at (output, input) index {worst}: "
                    f"analytical {a[worst]:.6e} vs numerical {n[worst]:.6e}"
                )
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """True when second derivatives of fn are right: gradcheck of the vector-Jacobian product
    v -> d(fn)/d(inputs)^T v (computed with create_graph=True), in the inputs and in v."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    outs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [Tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device, requires_grad=True)
                        for o in outs]
    n_in = len(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def vjp(*args):
        xs, vs = args[:n_in], args[n_in:]
        ys = _outputs(fn, xs)
        grads = autograd.grad(ys, [xs[i] for i in wrt], list(vs), create_graph=True, allow_unused=True)
        for i, g in zip(wrt, grads):
            # a vector-Jacobian product is linear in v, so it must depend on v: a gradient that
            # does not is a backward that cut the graph (raw arrays, detach), not a zero
            if g is not None and not g.requires_grad and any(v.requires_grad for v in vs):
                raise AssertionError(
                    f"gradgradcheck: the gradient for input {i} does not require grad with "
                    "create_graph=True: its backward is not differentiable (it left the graph)"
                )
        return tuple(g for g in grads if g is not None)

    return gradcheck(vjp, tuple(inputs) + tuple(grad_outputs), eps, atol, rtol, raise_exception)
