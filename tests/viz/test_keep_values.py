"""viz.keep_values(): every intermediate keeps its value and gradient for drawing (as micrograd's
draw_dot shows them), only inside the block, and only as long as the graph lives."""
import gc
import weakref

import numpy as np
import pytest

pytest.importorskip("graphviz", reason="draw_graph builds a graphviz.Digraph (pip install graphviz)")

import minigrad as mg  # noqa: E402
from minigrad import autograd, viz  # noqa: E402
from minigrad.viz.labels import summarize  # noqa: E402
from viz_dot import label, parse  # noqa: E402


def build():
    a = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True, name="a")
    b = mg.tensor([1.5, 0.25, -0.5], dtype=mg.float64, requires_grad=True, name="b")
    return a, b, (a * b).tanh().sum()


def _labels(loss):
    nodes, _, _ = parse(viz.draw_graph(loss, show_values=True, show_grads=True).source)
    return [label(n) for n in nodes.values() if n["shape"] == "box"]


def test_every_intermediate_shows_its_value_and_gradient():
    with viz.keep_values():
        a, b, loss = build()
    loss.backward()
    u = a.numpy() * b.numpy()
    h = np.tanh(u)
    by_shape = _labels(loss)
    # by hand: dL/dh = 1, dL/du = 1 - tanh(u)^2
    expected_u = f"data [{', '.join(f'{v:.4g}' for v in u)}]"
    expected_gu = f"grad [{', '.join(f'{v:.4g}' for v in 1 - h * h)}]"
    u_label = next(t for t in by_shape if expected_u in t)
    assert expected_gu in u_label
    h_label = next(t for t in by_shape if f"data [{', '.join(f'{v:.4g}' for v in h)}]" in t)
    assert "grad [1, 1, 1]" in h_label
    assert all("data" in t and "grad" in t for t in by_shape), by_shape


def test_off_by_default_only_leaves_keep_their_gradient():
    a, b, loss = build()
    loss.backward()
    labels = _labels(loss)
    with_grad = [t for t in labels if "\ngrad [" in t]
    assert len(with_grad) == 2 and all(t.split("\n")[0] in ("a", "b") for t in with_grad)
    assert autograd.on_record is None


def test_the_block_restores_the_previous_mode_and_memory_goes_with_the_graph():
    with viz.keep_values():
        a, b, loss = build()
        inner = loss.grad_fn.next_functions[0]._out_ref()  # tanh's output, held by the graph
    assert autograd.on_record is None
    ref = weakref.ref(inner)
    del inner
    gc.collect()
    assert ref() is not None  # the graph keeps it
    del loss
    gc.collect()
    assert ref() is None  # and lets go with the graph


def test_summaries_show_all_small_arrays_and_the_first_values_and_norm_of_large_ones():
    assert summarize(np.array([1.0, -2.5])) == "[1, -2.5]"
    big = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert summarize(big) == f"[0, 1, 2, ...] norm {np.sqrt((big ** 2).sum()):.4g}"
    assert summarize(np.float32(0.5)) == "0.5"
