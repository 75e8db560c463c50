"""keep_values: every tensor a graph makes keeps its value and, after backward, its gradient, so
that a drawing can show both on every node, as micrograd's draw_dot does.

    with viz.keep_values():
        loss = model(x, y)
    loss.backward()
    viz.draw_graph(loss, show_values=True, show_grads=True)

By default the graph holds its intermediate tensors only weakly (the ops keep just what their
backward needs) and backward stores gradients only on leaves and on tensors that asked with
`retain_grad()`. Inside the block each op node holds its output and asks for its gradient, so the
values and gradients live as long as the graph does: this costs memory, which is why it is off
unless asked for.
"""
from __future__ import annotations

import contextlib
import weakref

from .. import autograd


class _Held:
    """A strong reference that reads like the weak one it replaces (`node._out_ref()`)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor

    def __call__(self):
        return self.tensor


def _keep(node, output):
    node._out_ref = _Held(output)  # the node keeps its output alive, like a micrograd Value
    node._retain = weakref.ref(output)  # and backward stores the output's gradient in output.grad


@contextlib.contextmanager
def keep_values():
    """Inside the block, every recorded op keeps its output tensor, and backward fills its .grad."""
    previous = autograd.on_record
    autograd.on_record = _keep
    try:
        yield
    finally:
        autograd.on_record = previous
