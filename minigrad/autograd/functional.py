"""minigrad.autograd.functional: derivatives of whole functions, as torch.autograd.functional.

For y = f(x) with Jacobian J = dy/dx, and for a scalar f its Hessian H:

    vjp(f, x, v)      v^T J     one backward pass, v shaped like y
    jvp(f, x, v)      J v       two backward passes, v shaped like x (the double-backward trick)
    jacobian(f, x)    J         one backward pass per element of y
    hessian(f, x)     H         the Jacobian of the gradient
    vhp(f, x, v)      v^T H     backward of the gradient
    hvp(f, x, v)      H v       jvp of the gradient

The double-backward trick: reverse mode gives g(u) = J^T u for any u (one backward pass with u
as the output gradient). g is linear in u, so its own vector-Jacobian product with v is
v^T (dg/du) = v^T J^T = (J v)^T: a forward-mode derivative out of two reverse passes.

`x` is a tensor or a tuple of tensors, and the results follow the same structure (a Jacobian
of a tuple of outputs by a tuple of inputs is a tuple of tuples, [output][input]). The inputs
are detached first, so nothing is recorded on the caller's tensors, and the results are
detached too unless create_graph=True (then they can be differentiated again, also with
respect to inputs that require grad). An output that does not depend on an input gets zeros,
or an error with strict=True.
"""
from __future__ import annotations

from .. import autograd
from ..tensor import Tensor, stack


def _as_tuple(x, arg: str, fn: str):
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}: {arg} must be a Tensor or a tuple of Tensors, but element {i} is a {type(t).__name__}")
    return is_tuple, items


def _grad_inputs(inputs, create_graph, fn):
    """Leaves to differentiate at: detached copies, or (create_graph) the tensors themselves when
    they require grad, so that the result stays a function of them."""
    out = []
    for i, x in enumerate(inputs):
        if x.dtype.kind not in "fc":
            raise TypeError(f"{fn}: input {i} has dtype {x.dtype}; derivatives need floating point inputs")
        out.append(x * 1 if create_graph and x.requires_grad else x.detach().requires_grad_(True))
    return tuple(out)


def _outputs(func, inputs, fn):
    out = func(*inputs)
    is_tuple, outs = _as_tuple(out, "the function's output", fn)
    return is_tuple, outs


def _grads(outputs, inputs, grad_outputs, create_graph, strict, fn, what="output"):
    """d(sum_k <grad_outputs_k, outputs_k>)/d(inputs), zeros (or an error, strict) where unused."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if pairs:
        grads = autograd.grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=True,
                              create_graph=create_graph, allow_unused=True)
    else:
        grads = (None,) * len(inputs)
    result = []
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"{fn}: the {what} of the function is independent of input {i}, which strict mode does not "
                    "allow; pass strict=False to get zeros"
                )
            g = Tensor._make(x.xp.zeros(x.shape, dtype=x.dtype), False, None)
        result.append(g)
    return tuple(result)


def _finish(tensors, create_graph):
    return tuple(t if create_graph else t.detach() for t in tensors)


def _vector(v, like, arg, fn):
    """v as tensors shaped like `like`; None only where `like` holds single elements (then 1)."""
    if v is None:
        if any(t.numel() != 1 for t in like):
            raise RuntimeError(f"{fn}: {arg} can be left out only when the function's {'outputs' if arg == 'v' else arg} "
                               "have a single element; pass v")
        return tuple(Tensor._make(t.xp.ones(t.shape, dtype=t.dtype), False, None) for t in like)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(vs, like)):
        raise ValueError(f"{fn}: v has shapes {[tuple(a.shape) for a in vs]}, expected {[tuple(b.shape) for b in like]}")
    return tuple(a.type(b.dtype) for a, b in zip(vs, like))


def _single(is_tuple, items):
    return items if is_tuple else items[0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product, one backward pass."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    with autograd.enable_grad():
        xs = _grad_inputs(inputs, create_graph, "vjp")
        out_tuple, outs = _outputs(func, xs, "vjp")
        vs = _vector(v, outs, "v", "vjp")
        grads = _grads(outs, xs, vs, create_graph, strict, "vjp")
    return _single(out_tuple, _finish(outs, create_graph)), _single(in_tuple, _finish(grads, create_graph))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-backward trick."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    with autograd.enable_grad():
        xs = _grad_inputs(inputs, create_graph, "jvp")
        vs = _vector(v, xs, "inputs", "jvp")
        out_tuple, outs = _outputs(func, xs, "jvp")
        # g(u) = J^T u, recorded as a function of the dummy u; its vjp with v is J v
        us = tuple(Tensor(o.xp.zeros(o.shape, dtype=o.dtype), requires_grad=True) for o in outs)
        g = _grads(outs, xs, us, True, strict, "jvp")
        linked = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
        if linked:
            jv = autograd.grad([gi for gi, _ in linked], list(us), [vi for _, vi in linked],
                               create_graph=create_graph, allow_unused=True)
        else:
            jv = (None,) * len(us)
        jv = tuple(Tensor._make(u.xp.zeros(u.shape, dtype=u.dtype), False, None) if j is None else j
                   for u, j in zip(us, jv))
    return _single(out_tuple, _finish(outs, create_graph)), _single(out_tuple, _finish(jv, create_graph))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """dy/dx with shape y.shape + x.shape, one backward pass per element of y.

    For tuples: a tuple over inputs (one output), over outputs (one input), or a tuple of tuples
    [output][input]. vectorize is accepted for PyTorch code and changes nothing here."""
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: only strategy='reverse-mode' is implemented, got {strategy!r}")
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    with autograd.enable_grad():
        xs = _grad_inputs(inputs, create_graph, "jacobian")
        out_tuple, outs = _outputs(func, xs, "jacobian")
        table = []
        for i, out in enumerate(outs):
            rows = [[] for _ in xs]
            flat = out.reshape(-1)
            for e in range(flat.shape[0]):
                onehot = out.xp.zeros(flat.shape, dtype=out.dtype)
                onehot[e] = 1
                grads = _grads([flat], xs, [Tensor._make(onehot, False, None)], create_graph, strict,
                               "jacobian", what=f"output {i}")
                for j, g in enumerate(grads):
                    rows[j].append(g)
            per_input = []
            for j, x in enumerate(xs):
                if rows[j]:
                    jac = stack(rows[j]).reshape(tuple(out.shape) + tuple(x.shape))
                else:  # an empty output
                    jac = Tensor._make(x.xp.zeros(tuple(out.shape) + tuple(x.shape), dtype=x.dtype), False, None)
                per_input.append(jac if create_graph else jac.detach())
            table.append(_single(in_tuple, tuple(per_input)))
    return _single(out_tuple, tuple(table))


def _scalar_function(func, fn):
    def scalar(*xs):
        out_tuple, outs = _outputs(func, xs, fn)
        if out_tuple or outs[0].numel() != 1:
            shapes = [tuple(o.shape) for o in outs]
            raise RuntimeError(f"{fn}: the function must return a single Tensor with one element, got {shapes}")
        return outs[0]

    return scalar


def _gradient_function(func, fn, strict):
    scalar = _scalar_function(func, fn)

    def gradient(*xs):
        out = scalar(*xs)
        ones = Tensor._make(out.xp.ones(out.shape, dtype=out.dtype), False, None)
        return _grads([out], xs, [ones], True, strict, fn)

    return gradient


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """d^2 f / dx^2 for a scalar f: shape x.shape + x.shape, or a tuple of tuples [i][j] for tuples."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    gradient = _gradient_function(func, "hessian", strict)
    return jacobian(lambda *xs: _single(in_tuple, gradient(*xs)), _single(in_tuple, inputs), create_graph, strict)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(f(inputs), v^T H) for a scalar f: the vjp of the gradient."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
    with autograd.enable_grad():
        xs = _grad_inputs(inputs, create_graph, "vhp")
        out = _scalar_function(func, "vhp")(*xs)
        vs = _vector(v, xs, "inputs", "vhp")
        ones = Tensor._make(out.xp.ones(out.shape, dtype=out.dtype), False, None)
        g = _grads([out], xs, [ones], True, strict, "vhp")
        h = _grads(g, xs, vs, create_graph, strict, "vhp", what="gradient")
    return _finish((out,), create_graph)[0], _single(in_tuple, _finish(h, create_graph))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(f(inputs), H v) for a scalar f: the jvp of the gradient (two more backward passes than vhp;
    for a twice differentiable f, H is symmetric and the two agree)."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
    with autograd.set_grad_enabled(create_graph):
        out = _scalar_function(func, "hvp")(*inputs)
    _, hv = jvp(_gradient_function(func, "hvp", strict), tuple(inputs), v, create_graph, strict)
    return (out if create_graph else out.detach()), _single(in_tuple, hv)
