"""explain(): the backward pass as text, in the engine's order, with each op's local rule."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import viz
from minigrad.ops import elementwise, reduce


def test_steps_follow_backward_with_rules_shapes_broadcast_and_accumulation():
    a = mg.tensor(np.ones((4, 3)), requires_grad=True)
    b = mg.tensor(np.arange(3.0), requires_grad=True)
    a.name, b.name = "a", "b"
    L = (a * b + a).sum()
    text = viz.explain(L)
    lines = text.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    assert [s.split(":")[0] for s in steps] == ["[1] Sum", "[2] Add", "[3] Mul"]
    # each step quotes the op's own derivative (its docstring's first line)
    assert steps[0].endswith(reduce.Sum.__doc__.strip())
    assert steps[2].endswith(elementwise.Mul.__doc__.strip())
    assert "sends a gradient (3,) to b (3,), summed from (4, 3) over the broadcast dims" in text
    assert text.count("used 2x: the 2 gradients add up") == 2  # a's two uses, one per op
    assert "Leaves that receive a gradient: a (4, 3), b (3,)" in text
    L.backward()  # what the trace promised: b's gradient is the column sums of a, a's is b + 1
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().sum(0))
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b.numpy() + 1, (4, 3)))


def test_cut_inputs_are_named_as_such():
    table = mg.tensor(np.ones((5, 2)), requires_grad=True)
    table.name = "table"
    idx = mg.tensor([4, 0])
    text = viz.explain(table[idx].sum())
    assert "input 1: index (2,) (index): no gradient, the path stops here" in text


def test_a_tensor_without_graph():
    assert "backward has nothing to do" in viz.explain(mg.tensor([1.0]) * 2)


def test_explain_needs_no_graphviz(monkeypatch):
    import sys

    import minigrad.viz.draw as draw

    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` now fails
    monkeypatch.setattr(draw, "_ComputationGraph", None)  # forget the class made earlier
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert "[1] Sum" in viz.explain((x * x).sum())
    with pytest.raises(ImportError, match="pip install graphviz"):
        viz.draw_graph((x * x).sum())
