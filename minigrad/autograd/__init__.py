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
(None for those that take none). PyTorch's names for the rest: forward keeps the inputs its
backward reads with `ctx.save_for_backward(x, w)` (the arrays it was given), backward gets them
back as Tensors from `ctx.saved_tensors`, and `ctx.needs_input_grad[i]` says whether input i
wants a gradient at all.

The backward engine walks the graph with an explicit stack (no recursion: a 10,000-step
chain is fine), in topological order, summing the gradients that reach each node before it
runs. Saved arrays are released afterwards unless `retain_graph=True`.
"""
from __future__ import annotations

import functools
import weakref
from collections import namedtuple
from sys import getrefcount as _getrefcount

from numpy import asarray as _np_asarray
from numpy import generic as _np_generic
from numpy import ndarray as _np_ndarray

from ..backend import device_of

_grad_enabled = True
# minigrad.viz turns this on: released nodes then keep the shapes and dtypes of what they saved
describe_released_graphs = False
# minigrad.viz.keep_values() sets this: called as on_record(node, output) for every node recorded
on_record = None
# minigrad.amp.autocast sets this: called as autocast_args(cls, args) before an op runs, it casts
# the arguments of the ops that autocast runs in float16 or in float32
autocast_args = None


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
    """Base of no_grad / enable_grad: a context manager, and a decorator with or without ()."""

    mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:  # used bare, as `@no_grad`
            return self(func)
        return self

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


# minigrad.tensor sets this once Tensor exists (autograd sits below tensor in the imports);
# a module global keeps the hot path free of function-level imports
Tensor = None


class Function:
    """One node of the graph: a differentiable primitive and what its backward needs.

    The engine's own state lives in slots; what an op's forward saves for its backward
    (`ctx.mask = ...`) lives in the instance dict, which `release()` empties after backward.
    """

    __slots__ = (
        "next_functions", "_saved", "_out", "_out_version", "_freed",
        "_hooks", "_retain", "_out_ref", "__dict__", "__weakref__",
    )

    # no __init__: apply() sets the slots itself (an op runs millions of times in training,
    # and a node that records no graph never needs most of them)

    # -- forward side -------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        if autocast_args is not None:
            args = autocast_args(cls, args)
        ctx = cls()
        ctx._saved = None  # save_for_backward() sets its arrays; their tensors are kept below if recorded
        ctx._out = None  # save_output() sets True; the output array is kept below
        arrays = []
        requires_grad = False
        first = None
        for a in args:
            if isinstance(a, Tensor):
                d = a.data
                if first is None:
                    first = d
                elif type(d) is not type(first) and device_of(d) != device_of(first):
                    _device_mismatch(cls, args)
                arrays.append(d)
                if a.requires_grad:
                    requires_grad = True
            else:
                arrays.append(a)
        try:
            out = ctx.forward(*arrays, **kwargs)
        except ValueError as e:
            if "could not be broadcast" in str(e):  # numpy's message names neither the op nor the fix
                _broadcast_error(cls, args)
            raise
        if isinstance(out, _np_generic):  # numpy reductions return scalars; keep 0-d arrays
            out = _np_asarray(out)
        if not (requires_grad and _grad_enabled and out.dtype.kind in "fc"):
            return Tensor._make(out, False, None)
        # record the node: per argument, where its gradient goes (the node that made it, the
        # leaf itself, or None for numbers and tensors that need no gradient)
        ctx.next_functions = tuple([
            (a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None for a in args
        ])
        ctx._freed = False
        ctx._hooks = None
        ctx._retain = None
        if ctx._saved is not None:  # forward called save_for_backward(): keep those inputs, with their versions
            ctx._saved = _saved_inputs(ctx, arrays, args)
        result = Tensor._make(out, True, ctx)
        if ctx._out is not None:  # forward called save_output(): share the version counter
            ctx._out = out
            ctx._out_version = (result._version, 0)
        ctx._out_ref = weakref.ref(result)
        if on_record is not None:
            on_record(ctx, result)
        return result

    def save_for_backward(self, *arrays):
        """Keep these inputs of forward for backward, which reads them as Tensors from `saved_tensors`.

        Forward is given arrays, so each one passed here must be one of forward's own arguments (the
        very object; None and plain numbers pass through too): the node keeps the Tensor that
        argument came from, and its version, which `saved_tensors` checks. Pass them in argument
        order (`x * x` is one array twice). An intermediate array is kept as an attribute
        (`ctx.mask = ...`); the output with `save_output()`.
        """
        self._saved = arrays

    def save_output(self):
        """Keep the output for backward; `ctx.output` hands it back as a Tensor."""
        self._out = True  # the array is filled in by forward's return through apply

    @property
    def saved_tensors(self):
        """What forward passed to save_for_backward, as Tensors; an error if one was changed in place."""
        if self._freed or self._saved is None:
            _raise_freed(self)
        for a, v, i in self._saved:
            if v is not None and a._version[0] != v and self.reads_saved_input(i):
                _raise_modified(self, a, v, f"its input {i}")
        return tuple([a for a, _, _ in self._saved])

    def reads_saved_input(self, i) -> bool:
        """Whether this node's backward reads its saved input i (the argument's position), given
        `needs_input_grad`. An input changed in place after it was saved is an error only if it is
        read, as in PyTorch: for y = a * b with only a wanting a gradient, a may change afterwards.
        Ops that read an input only for some gradients say so here; the default is every time."""
        return True

    @property
    def output(self):
        if self._freed or self._out is None:
            _raise_freed(self)
        counter, v = self._out_version
        if counter[0] != v:
            _raise_modified(self, Tensor._make(self._out, False, self, version=counter), v, "its output")
        if _grad_enabled:  # create_graph: y as a function of x, through this very node
            return Tensor._make(self._out, True, self, version=counter)
        return Tensor._make(self._out, False, None)

    @property
    def needs_input_grad(self):
        """One bool per argument of forward: does a gradient for it go anywhere? (PyTorch's name.)
        Known once the node is recorded, so read it in backward to skip gradients nobody needs."""
        try:
            edges = self.next_functions
        except AttributeError:
            raise RuntimeError(
                f"{self.name()}: needs_input_grad is known once forward has returned and the node is "
                "recorded; read it in backward"
            ) from None
        return tuple([e is not None for e in edges])

    def name(self) -> str:
        return type(self).__name__

    def release(self):
        """Drop what forward saved; a later backward through this node is an error.

        Once minigrad.viz is imported (`describe_released_graphs`), arrays (the saved inputs,
        masks, indices, statistics) give way to their shape and dtype, so that a graph drawn after
        backward still knows what each op was given; otherwise they are simply dropped, which
        keeps backward's per-node cost low.
        """
        if describe_released_graphs:
            if self._saved is not None:  # one entry per argument of forward, None where nothing was saved
                meta = [None] * len(self.next_functions)
                for a, _, i in self._saved:
                    if i is not None:
                        meta[i] = _describe(a)
                self._input_meta = tuple(meta)
            d = self.__dict__
            for k, v in d.items():
                d[k] = _describe(v)
        else:
            self.__dict__.clear()
        self._saved = None
        self._out = None
        self._freed = True

    def __repr__(self):
        return f"<{self.name()}Backward>"


def _saved_inputs(ctx, arrays, args):
    """(tensor or value, its version then, its position) for each value forward passed to
    save_for_backward, found among forward's arguments by identity: the first match from just after
    the previous one, so that `x * x` saving both operands keeps both positions."""
    kept = []
    n = len(arrays)
    j = 0
    for s in ctx._saved:
        if s is None:
            kept.append((None, None, None))
            continue
        while j < n and arrays[j] is not s:
            j += 1
        if j == n:  # saved out of argument order, or not an argument at all
            j = 0
            while j < n and arrays[j] is not s:
                j += 1
            if j == n:
                _raise_not_an_input(ctx, s)
        a = args[j]
        kept.append((a, a._version[0], j) if isinstance(a, Tensor) else (a, None, j))
        j += 1
    return tuple(kept)


def _raise_not_an_input(ctx, value):
    what = f"an array of shape {tuple(value.shape)}" if hasattr(value, "shape") else repr(value)
    raise RuntimeError(
        f"{ctx.name()}: save_for_backward was given {what}, which is not one of forward's arguments. "
        "It keeps inputs only (the objects forward received): keep the output with ctx.save_output() "
        "and an intermediate array as an attribute (ctx.name = array)."
    )


ArrayMeta = namedtuple("ArrayMeta", ["shape", "dtype", "name"])


def _describe(value):
    """What stays of a saved value after backward: numbers, names and flags as they are, an array
    or a tensor as its shape and dtype (and name), containers of arrays emptied."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return ArrayMeta(tuple(value.shape), value.dtype, getattr(value, "name", None))
    if isinstance(value, (list, tuple)) and any(hasattr(v, "shape") for v in value):
        return type(value)(_describe(v) for v in value) if isinstance(value, list) else tuple(_describe(v) for v in value)
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    return value


def _broadcast_error(cls, args):
    shapes = " and ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
    raise ValueError(
        f"{cls.__name__.lower()}: shapes {shapes} cannot be broadcast together: counted from the "
        "right, each pair of dims must be equal or one of them 1. Reshape, unsqueeze or transpose "
        "an operand so that the dims line up."
    ) from None


def _device_mismatch(cls, args):
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


def _raise_modified(node, t, v, which):
    """PyTorch's message: which op saved what, at which version, and which version it is now."""
    made_by = f"output 0 of {t.grad_fn.name()}" if t.grad_fn is not None else "a leaf"
    raise RuntimeError(
        f"{node.name()}: one of the variables needed for gradient computation has been modified by "
        f"an in-place operation: [{t.dtype} tensor of shape {tuple(t.shape)}], which is {made_by}, saved by "
        f"{node.name()} as {which}, is at version {t._version[0]}; expected version {v} instead. "
        "It was changed in place after it was saved, directly or through a view of the same memory: "
        "use an out-of-place op (x = x + y instead of x += y) or .clone() it before changing it."
    )


class _Handle:
    """Returned by register_hook; `.remove()` takes the hook off again."""

    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


# -- the backward engine ---------------------------------------------------------------
def _count_dependencies(roots):
    """For every node reachable from the roots: how many edges lead into it (its consumers).

    The engine runs a node once that many gradients have arrived, so each node runs once,
    after everything that uses its output."""
    deps = {}
    stack = list(roots)
    expanded = set(roots)
    while stack:
        for nxt in stack.pop().next_functions:
            if isinstance(nxt, Function):  # not a leaf tensor, not None
                if nxt in deps:
                    deps[nxt] += 1
                else:
                    deps[nxt] = 1
                    if nxt not in expanded:
                        expanded.add(nxt)
                        stack.append(nxt)
    return deps


def _post_order(roots):
    """The nodes reachable from the roots, each after all the nodes it leads to."""
    order = []
    visited = set()
    stack = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        stack.extend((nxt, False) for nxt in node.next_functions if isinstance(nxt, Function) and nxt not in visited)
    return order


def _add(a, b):
    """a + b for gradients; under no_grad without building a node."""
    if a is None:
        return b
    if b is None:
        return a
    if _grad_enabled:
        return a + b
    return Tensor._make(a.data + b.data, False, None)


def _run_hooks(hooks, g):
    for hook in hooks:
        new = hook(g)
        if new is not None:
            g = new
    return g


def run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None, allow_unused=False):
    """The engine behind Tensor.backward and autograd.grad.

    With `inputs=None`, gradients accumulate into the `.grad` of every leaf that requires one.
    With `inputs`, nothing accumulates: the gradients with respect to those tensors are returned.
    """
    global _grad_enabled
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError(
                "backward: element of the outputs does not require grad and has no grad_fn. "
                "Did you create it under no_grad(), from .detach(), or from tensors that all have "
                "requires_grad=False?"
            )
    capture_nodes = {}  # autograd.grad: node (or id of a leaf) -> position in the result
    capture_leaves = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise RuntimeError(f"autograd.grad: input {i} does not require grad")
            if t.grad_fn is None:
                capture_leaves[id(t)] = i
            else:
                capture_nodes[t.grad_fn] = i
    results = [None] * (len(inputs) if inputs is not None else 0)

    prev_mode = _grad_enabled
    _grad_enabled = bool(create_graph)  # the backward pass records a graph only when asked
    try:
        roots = []
        leaf_grads = {}  # id(leaf) -> [leaf, summed gradient]
        node_grads = {}  # node -> summed gradient of its output
        for out, g in zip(outputs, grad_outputs):
            if out.grad_fn is None:
                entry = leaf_grads.setdefault(id(out), [out, None])
                entry[1] = _add(entry[1], g)
            else:
                node_grads[out.grad_fn] = _add(node_grads.get(out.grad_fn), g)
                roots.append(out.grad_fn)

        deps = _count_dependencies(roots)
        needed = None
        if inputs is not None:  # skip nodes from which no input can be reached
            needed = set()
            for node in _post_order(roots):  # a node comes after everything it leads to
                if node in capture_nodes or any(
                    (isinstance(e, Function) and e in needed) or (isinstance(e, Tensor) and id(e) in capture_leaves)
                    for e in node.next_functions
                ):
                    needed.add(node)

        # a node runs once the gradients from all its consumers have been summed (deps == 0)
        ready = [n for n in dict.fromkeys(roots) if deps.get(n, 0) == 0]
        while ready:
            node = ready.pop()
            g = node_grads.pop(node, None)
            if node._hooks:
                g = _run_hooks(node._hooks, g)
            if node._retain is not None and inputs is None:
                _retain_grad(node, g, create_graph)
            if capture_nodes and node in capture_nodes:
                results[capture_nodes[node]] = g
            edges = node.next_functions
            if g is None or (needed is not None and node not in needed):
                grads = (None,) * len(edges)
            else:
                if node._freed:
                    _raise_freed(node)
                grads = node.backward(g)
                if type(grads) is not tuple:
                    grads = (grads,)
                if len(grads) != len(edges):  # trailing Nones may be left out
                    if len(grads) > len(edges):
                        raise RuntimeError(
                            f"{node.name()}.backward returned {len(grads)} gradients for {len(edges)} inputs"
                        )
                    grads = grads + (None,) * (len(edges) - len(grads))
            if describe_released_graphs and g is not None:  # the gradient has the output's shape
                node._output_meta = (g.shape, g.dtype)
            if not retain_graph:
                node.release()
            for edge, gi in zip(edges, grads):
                if edge is None:
                    continue
                if isinstance(edge, Function):
                    if gi is not None:
                        prev = node_grads.get(edge)
                        node_grads[edge] = gi if prev is None else _add(prev, gi)
                    left = deps[edge] - 1
                    deps[edge] = left
                    if left == 0:
                        ready.append(edge)
                elif gi is not None:  # a leaf tensor
                    entry = leaf_grads.get(id(edge))
                    if entry is None:
                        leaf_grads[id(edge)] = [edge, gi]
                    else:
                        entry[1] = _add(entry[1], gi)

        grads = gi = g = None  # the last node's gradients: no stale holders for _unshared_array to count
        # leaves: hooks see the summed gradient, then it accumulates into .grad
        for leaf, g in leaf_grads.values():
            if g is None:
                continue
            if g.shape != leaf.shape or g.dtype != leaf.dtype:
                raise RuntimeError(
                    f"backward: the gradient for a leaf of shape {tuple(leaf.shape)} and dtype {leaf.dtype} "
                    f"came back with shape {tuple(g.shape)} and dtype {g.dtype}: an op's backward is wrong"
                )
            if leaf._hooks:
                g = _run_hooks(leaf._hooks, g)
            if inputs is not None:
                if id(leaf) in capture_leaves:
                    results[capture_leaves[id(leaf)]] = g
                continue
            if create_graph:
                leaf.grad = g if leaf.grad is None else leaf.grad + g
            elif leaf.grad is None:
                leaf.grad = Tensor._make(_unshared_array(g), False, None)
            elif leaf.grad.requires_grad:  # left by a create_graph backward: keep that graph intact
                leaf.grad = Tensor._make(leaf.grad.data + g.data, False, None)
            else:
                leaf.grad.data += g.data
                leaf.grad._version[0] += 1
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


def _unshared_array(g):
    """The array for a leaf's first .grad: g's own when nothing else can reach it, else a copy.

    Later backwards accumulate into .grad in place, so it must never be an array another tensor
    (another leaf's gradient, a view, a tensor the user holds) can see. Most gradients are fresh
    arrays an op's backward just made and nobody else holds; taking those saves a copy of every
    parameter's gradient each step (time, and the peak memory of a training step). The counts:
    g is held by its leaf_grads entry, run_backward's loop variable and this call; its array by
    g.data and this frame. One more reference anywhere (a second entry, a numpy view, the user's
    tensor, a node kept by retain_graph) and it is copied. Device arrays are always copied.
    """
    a = g.data
    if (
        type(a) is _np_ndarray
        and a.base is None
        and a.flags.writeable
        and _getrefcount(g) <= _SOLE_TENSOR_REFS
        and _getrefcount(a) <= _SOLE_ARRAY_REFS
    ):
        return a
    return a.copy()


# what _unshared_array sees for a gradient nobody else holds (sys.getrefcount counts its own argument)
_SOLE_TENSOR_REFS = 4
_SOLE_ARRAY_REFS = 3


def _retain_grad(node, g, create_graph):
    """Store the gradient of a non-leaf tensor that asked for it with retain_grad()."""
    t = node._retain()
    if t is None or g is None:
        return
    g = g if create_graph else g.detach()
    t.grad = g if t.grad is None else _add(t.grad, g)


def _as_grad_outputs(outputs, grad_outputs, who):
    result = []
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"{who}: output {i} does not require grad and has no grad_fn. Did you create it "
                "under no_grad(), from .detach(), or from tensors that all have requires_grad=False?"
            )
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
        elif g.dtype != out.dtype:  # as PyTorch: the gradient takes the output's dtype
            g = g.type(out.dtype)
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
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    gouts = _as_grad_outputs(outputs, grad_outputs, "autograd.grad")
    return run_backward(outputs, gouts, retain_graph, create_graph, inputs=inputs, allow_unused=allow_unused)
