"""Memory: backward frees what forward saved (unless retain_graph=True), and a training loop
runs in constant memory."""
import gc
import tracemalloc
import weakref

import numpy as np

import minigrad as mg
from minigrad.autograd import Function


def _graph_nodes(root):
    """Every Function node reachable from a tensor."""
    seen, stack = set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not isinstance(node, Function):
            continue
        seen.add(id(node))
        yield node
        stack.extend(node.next_functions)


def _small_graph():
    x = mg.randn(4, 3, requires_grad=True)
    w = mg.randn(3, 5, requires_grad=True)
    h = (x @ w).tanh()  # tanh saves its output array; matmul saves x and w
    m = mg.where(h > 0, h, h * 0.5)  # where keeps its condition array in its context
    s = m.softmax(-1)
    loss = (s * h).sum() + fused_loss(h)
    return loss, h, m


def fused_loss(h):
    from minigrad.ops import fused

    return fused.CrossEntropy.apply(h, mg.tensor([0, 1, 2, 3]), None)


def test_backward_releases_saved_arrays_and_tensors():
    loss, h, m = _small_graph()
    saved_output = weakref.ref(h.data)  # the array Tanh keeps for its backward
    saved_mask = weakref.ref(m.grad_fn.cond)  # an array Where keeps in its context
    saved_tensor = weakref.ref(h)  # Mul saves h (the tensor) as an input
    del h, m
    gc.collect()
    assert saved_output() is not None and saved_mask() is not None and saved_tensor() is not None
    loss.backward()
    gc.collect()
    # the loss (and so the graph's nodes) is still alive, but what they saved is gone
    assert saved_output() is None and saved_mask() is None and saved_tensor() is None
    for node in _graph_nodes(loss):
        assert node._saved is None and node._out is None, node
        # at most a description stays (shapes, dtypes, dims, once minigrad.viz is imported), no array
        kept = list(vars(node).values())
        assert not any(isinstance(v, np.ndarray) for v in kept), (node, kept)


def test_retain_graph_keeps_them_for_a_second_backward():
    loss, h, m = _small_graph()
    saved_output = weakref.ref(h.data)
    del h, m
    loss.backward(retain_graph=True)
    gc.collect()
    assert saved_output() is not None
    loss.backward()
    gc.collect()
    assert saved_output() is None


def _live_graph_objects():
    gc.collect()
    # issubclass(type(o)): isinstance would read o.__class__, which wakes deprecated lazy modules (torch's)
    return sum(issubclass(type(o), (mg.Tensor, Function)) for o in gc.get_objects())


def test_a_thousand_training_steps_do_not_grow_memory():
    mg.manual_seed(0)
    W1, b1 = mg.randn(8, 16, requires_grad=True), mg.zeros(16, requires_grad=True)
    W2 = mg.randn(16, 4, requires_grad=True)
    params = [W1, b1, W2]
    xs, ys = mg.randn(32, 8), mg.randint(0, 4, (32,))

    def step():
        from minigrad.ops import fused

        logits = (xs @ W1 + b1).tanh() @ W2
        loss = fused.CrossEntropy.apply(logits, ys, None)
        for p in params:
            p.grad = None
        loss.backward()
        with mg.no_grad():
            for p in params:
                p.sub_(p.grad * 0.01)
        return loss.item()

    for _ in range(50):  # warm up: caches, the first gradients
        first_loss = step()
    objects_before = _live_graph_objects()
    tracemalloc.start()
    for _ in range(100):
        step()
    gc.collect()  # also empties CPython's free lists, which tracemalloc counts as allocated
    after_100 = tracemalloc.get_traced_memory()[0]
    for _ in range(900):
        last_loss = step()
    gc.collect()
    after_1000 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert last_loss < first_loss  # it did train
    assert _live_graph_objects() == objects_before
    assert after_1000 - after_100 < 16 * 1024, f"grew by {after_1000 - after_100} bytes over 900 steps"
    assert np.isfinite(last_loss)
