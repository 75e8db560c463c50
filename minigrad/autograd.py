"""Reverse-mode automatic differentiation: Function nodes, grad mode, and the backward engine.

A `Function` subclass is one differentiable primitive. Its `forward` works on raw arrays
(numpy or cupy: fast), its `backward` on Tensors, so that running backward with grad mode on
(`create_graph=True`) records a graph of the backward pass itself: higher derivatives for free.

    class Tanh(Function):
        '''y = tanh(x)    dy/dx = 1 - y**2'''
        def forward(ctx, x):
            ctx.save_output()          # y, without a reference cycle
            return xp_of(x).tanh(x)
        def backward(ctx, gy):
            y = ctx.output
            return gy * (1 - y * y)

Calling `Tanh.apply(t)` runs forward and, when a gradient is wanted, links the new node to
the nodes that made its inputs (`next_functions`). Non-tensor arguments (Python numbers,
dims, flags) pass straight through to forward; backward returns one gradient per argument
(None for those that take none).

The backward engine walks the graph with an explicit stack (no recursion: a 10,000-step
chain is fine), in topological order, summing the gradients that reach each node before it
runs. Saved arrays are released afterwards unless `retain_graph=True`.
"""
from __future__ import annotations

import functools
import weakref

from numpy import asarray as _np_asarray
from numpy import generic as _np_generic

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class set_grad_enabled:
    """Context manager / decorator that turns gradient recording on or off."""

    def __init__(self, mode: bool):
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False


class _GradMode:
    mode = True

    def __enter__(self):
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Inside it, ops record no graph: `with no_grad(): ...` or `@no_grad()`."""

    mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a no_grad block."""

    mode = True


class Function:
    """One node of the graph: a differentiable primitive and what its backward needs."""

    __slots__ = (
        "next_functions", "_inputs", "_saved", "_out", "_out_version", "_freed",
        "_hooks", "_retain", "_out_ref", "__dict__", "__weakref__",
    )
    once_differentiable = False  # fused kernels whose backward works on raw arrays say so

    def __init__(self):
        self.next_functions = ()
        self._saved = None
        self._out = None
        self._freed = False
        self._hooks = None
        self._retain = None
        self._out_ref = None

    # -- forward side -------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor

        ctx = cls()
        ctx._inputs = args
        requires_grad = False
        device = None
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                if a.requires_grad:
                    requires_grad = True
                d = a.data
                if device is None:
                    device = type(d)
                elif type(d) is not device:
                    _device_mismatch(cls, args)
                arrays.append(d)
            else:
                arrays.append(a)
        out = ctx.forward(*arrays, **kwargs)
        ctx._inputs = None
        if isinstance(out, _np_generic):  # numpy reductions return scalars; keep 0-d arrays
            out = _np_asarray(out)
        if ctx._out is not None:  # forward called save_output(): keep the array it returned
            ctx._out = out
        if requires_grad and _grad_enabled and out.dtype.kind in "fc":
            ctx.next_functions = tuple(
                (a.grad_fn if a.grad_fn is not None else a)
                if isinstance(a, Tensor) and a.requires_grad else None
                for a in args
            )
            result = Tensor._make(out, True, ctx)
            if ctx._out is not None:  # save_output() was called: share the version counter
                ctx._out_version = (result._version, result._version[0])
            ctx._out_ref = weakref.ref(result)
            return result
        ctx._saved = None
        ctx._out = None
        return Tensor._make(out, False, None)

    def save_inputs(self):
        """Keep the input tensors for backward (their versions are checked there)."""
        from .tensor import Tensor

        self._saved = tuple(
            (a, a._version[0]) if isinstance(a, Tensor) else (a, None) for a in self._inputs
        )

    def save_output(self):
        """Keep the output for backward; `ctx.output` hands it back as a Tensor."""
        self._out = True  # the array is filled in by forward's return through apply

    @property
    def inputs(self):
        if self._freed or self._saved is None:
            _raise_freed(self)
        for a, v in self._saved:
            if v is not None and a._version[0] != v:
                _raise_modified(self, a, v)
        return tuple(a for a, _ in self._saved)

    @property
    def output(self):
        from .tensor import Tensor

        if self._freed or self._out is None:
            _raise_freed(self)
        counter, v = self._out_version
        if counter[0] != v:
            raise RuntimeError(
                f"{self.name()}: its output was modified by an in-place operation after it was "
                f"saved for backward (version {counter[0]}, expected {v}). Use an out-of-place "
                "op (x = x + y instead of x += y) or clone the tensor before changing it."
            )
        data = self._out
        if _grad_enabled:  # create_graph: y as a function of x, through this very node
            return Tensor._make(data, True, self, version=counter)
        return Tensor._make(data, False, None)

    def name(self) -> str:
        return type(self).__name__

    def release(self):
        """Drop what forward saved; a later backward through this node is an error."""
        self._saved = None
        self._out = None
        self._freed = True

    def __repr__(self):
        return f"<{self.name()}Backward>"


def _device_mismatch(cls, args):
    from .tensor import Tensor

    desc = ", ".join(
        f"{a.device} {tuple(a.shape)}" for a in args if isinstance(a, Tensor)
    )
    raise RuntimeError(
        f"{cls.__name__}: expected all tensors on the same device, got {desc}. "
        "Move them with .to('cpu') or .to('cuda') first."
    )


def _raise_freed(node):
    raise RuntimeError(
        f"{node.name()}: trying to backward through the graph a second time (or directly access "
        "saved tensors after they have already been freed). Saved intermediate values of the graph "
        "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you "
        "need to backward through the graph a second time."
    )


def _raise_modified(node, t, v):
    raise RuntimeError(
        f"{node.name()}: one of the variables needed for gradient computation has been modified by "
        f"an in-place operation: a tensor of shape {tuple(t.shape)} and dtype {t.dtype} is at "
        f"version {t._version[0]}; expected version {v} instead. Use an out-of-place op or "
        ".clone() the tensor before modifying it."
    )


class _Handle:
    """Returned by register_hook; `.remove()` takes the hook off again."""

    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


# -- the backward engine ---------------------------------------------------------------
def _toposort(root_nodes):
    """Post-order of the Function nodes reachable from the roots, and each one's fan-in."""
    deps = {}
    order = []
    visited = set()
    stack = [(n, False) for n in root_nodes]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for nxt in node.next_functions:
            if isinstance(nxt, Function):
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in visited:
                    stack.append((nxt, False))
    return order, deps


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if _grad_enabled:
        return a + b
    from .tensor import Tensor

    return Tensor._make(a.data + b.data, False, None)


def run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None, allow_unused=False):
    """The engine behind Tensor.backward and autograd.grad.

    With `inputs=None`, gradients accumulate into the `.grad` of every leaf that requires one.
    With `inputs`, nothing accumulates: the gradients with respect to those tensors are returned.
    """
    from .tensor import Tensor

    global _grad_enabled
    roots = []
    leaf_grads = {}  # id(leaf) -> [leaf, grad]
    node_grads = {}
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                "backward: element of the outputs does not require grad and has no grad_fn. "
                "Did you create it under no_grad(), from .detach(), or from tensors that all have "
                "requires_grad=False?"
            )
        if out.grad_fn is None:
            entry = leaf_grads.setdefault(id(out), [out, None])
            entry[1] = _add(entry[1], g)
        else:
            node_grads[out.grad_fn] = _add(node_grads.get(out.grad_fn), g)
            roots.append(out.grad_fn)

    capture_nodes = {}
    capture_leaves = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise RuntimeError(f"autograd.grad: input {i} does not require grad")
            if t.grad_fn is None:
                capture_leaves[id(t)] = i
            else:
                capture_nodes[t.grad_fn] = i

    order, deps = _toposort(roots)
    needed = None
    if inputs is not None:  # skip nodes from which no input can be reached
        needed = set()
        for node in order:  # post-order: a node comes after everything it leads to
            if node in capture_nodes or any(
                (isinstance(e, Function) and e in needed) or (isinstance(e, Tensor) and id(e) in capture_leaves)
                for e in node.next_functions
            ):
                needed.add(node)

    results = [None] * (len(inputs) if inputs is not None else 0)
    for leaf_id, (leaf, g) in list(leaf_grads.items()):
        if inputs is not None and leaf_id in capture_leaves:
            results[capture_leaves[leaf_id]] = g

    prev_mode = _grad_enabled
    _grad_enabled = bool(create_graph)
    try:
        ready = [n for n in dict.fromkeys(roots) if deps.get(n, 0) == 0]
        while ready:
            node = ready.pop()
            g = node_grads.pop(node, None)
            if node._hooks:
                for hook in node._hooks:
                    new = hook(g)
                    if new is not None:
                        g = new
            if node._retain is not None:
                t = node._retain()
                if t is not None and inputs is None:
                    gg = g if create_graph else g.detach()
                    t.grad = gg if t.grad is None else _add(t.grad, gg)
            if node in capture_nodes:
                results[capture_nodes[node]] = g
            if needed is not None and node not in needed:
                grads = ()
            elif g is None:
                grads = ()
            else:
                if node._freed:
                    _raise_freed(node)
                grads = node.backward(g)
                if not isinstance(grads, tuple):
                    grads = (grads,)
            if not retain_graph:
                node.release()
            for edge, gi in zip(node.next_functions, grads):
                if gi is None or edge is None:
                    continue
                if isinstance(edge, Function):
                    node_grads[edge] = _add(node_grads.get(edge), gi)
                else:
                    entry = leaf_grads.get(id(edge))
                    if entry is None:
                        leaf_grads[id(edge)] = [edge, gi]
                    else:
                        entry[1] = _add(entry[1], gi)
            for edge in node.next_functions:
                if isinstance(edge, Function):
                    deps[edge] -= 1
                    if deps[edge] == 0:
                        ready.append(edge)
        # leaves: hooks see the summed gradient, then it accumulates into .grad
        for leaf, g in leaf_grads.values():
            if g is None:
                continue
            if leaf._hooks:
                for hook in leaf._hooks:
                    new = hook(g)
                    if new is not None:
                        g = new
            if inputs is not None:
                if id(leaf) in capture_leaves:
                    results[capture_leaves[id(leaf)]] = g
                continue
            if not create_graph:
                g = g.detach()
            if leaf.grad is None:
                # a fresh tensor, so later in-place accumulation never aliases a graph value
                leaf.grad = g if create_graph else Tensor._make(g.data.copy(), False, None)
            else:
                leaf.grad = _add(leaf.grad, g) if create_graph else _accumulate_inplace(leaf.grad, g)
    finally:
        _grad_enabled = prev_mode

    if inputs is not None:
        for i, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: input {i} (shape {tuple(inputs[i].shape)}) was not used to "
                    "compute the outputs. Pass allow_unused=True if this is expected."
                )
        return tuple(results)
    return None


def _accumulate_inplace(grad, g):
    grad.data += g.data
    return grad


def _as_grad_outputs(outputs, grad_outputs, who):
    from .tensor import Tensor

    result = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs, but output {i} "
                    f"has shape {tuple(out.shape)}. Pass gradient= (a tensor of that shape), or "
                    "reduce it first, e.g. loss.sum().backward()."
                )
            xp = out.xp
            g = Tensor._make(xp.ones(out.shape, dtype=out.dtype), False, None)
        elif not isinstance(g, Tensor):
            g = Tensor._make(out.xp.asarray(g, dtype=out.dtype), False, None)
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"{who}: gradient has shape {tuple(g.shape)} but the output has shape {tuple(out.shape)}"
            )
        result.append(g)
    return result


def backward(tensor, gradient=None, retain_graph=None, create_graph=False):
    if retain_graph is None:
        retain_graph = create_graph
    grads = _as_grad_outputs([tensor], [gradient] if gradient is not None else None, "backward")
    run_backward([tensor], grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, without touching any `.grad`.

    Like torch.autograd.grad: returns a tuple with one gradient per input (None for unused
    inputs when allow_unused=True). With create_graph=True the result can be differentiated again.
    """
    from .tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    gouts = _as_grad_outputs(outputs, grad_outputs, "autograd.grad")
    return run_backward(outputs, gouts, retain_graph, create_graph, inputs=inputs, allow_unused=allow_unused)
