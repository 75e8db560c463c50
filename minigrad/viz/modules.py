"""Which module made which op: exact boxes for draw_graph(group_modules=True).

    with viz.record_modules(model):
        loss = model(x, targets)
    viz.draw_graph(loss, params=model)

Without this, draw_graph guesses each op's module from the parameters it uses (trace.py). Inside
`record_modules`, every sub-module's forward is wrapped for the duration: when it returns, the
op nodes between its inputs and its outputs that no inner module claimed are marked as its own.
Nothing in the model changes; the marks are weak references that vanish with the graph.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager

from ..autograd import Function
from ..tensor import Tensor

RECORDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Function -> module path


def _tensors_in(obj, out=None) -> list:
    out = [] if out is None else out
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _tensors_in(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _tensors_in(x, out)
    return out


def _claim(outputs, path: str, stop: set) -> None:
    """Mark the nodes that made `outputs` as made by module `path`, back to its inputs.

    A node an inner module already claimed is walked through (the walk continues past it to
    the ops this module ran before calling that inner one); a node claimed by any other module
    was made before this call, so the walk stops there.
    """
    inner = path + "."
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    seen = set()
    while stack:
        fn = stack.pop()
        if fn in seen or fn in stop:
            continue
        seen.add(fn)
        owner = RECORDED.get(fn)
        if owner is None:
            RECORDED[fn] = path
        elif not (path == "" or owner == path or owner.startswith(inner)):
            continue
        stack.extend(n for n in fn.next_functions if isinstance(n, Function))


@contextmanager
def record_modules(model, prefix: str = ""):
    """Record, while the block runs, which of `model`'s modules made each op node."""
    if not hasattr(model, "named_modules"):
        raise TypeError(f"record_modules: expected an nn.Module, got {type(model).__name__}")
    wrapped = []
    for path, module in model.named_modules(prefix=prefix):
        if "forward" in vars(module):  # already wrapped (a module shared by two parents)
            continue

        def forward(*args, _forward=module.forward, _path=path, **kwargs):
            stop = {t.grad_fn for t in _tensors_in((args, kwargs)) if t.grad_fn is not None}
            out = _forward(*args, **kwargs)
            _claim(_tensors_in(out), _path, stop)
            return out

        object.__setattr__(module, "forward", forward)  # an instance attribute shadows the method
        wrapped.append(module)
    try:
        yield RECORDED
    finally:
        for module in wrapped:
            vars(module).pop("forward", None)


def recorded_module(fn) -> str | None:
    return RECORDED.get(fn)
