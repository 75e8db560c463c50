"""A leaf's first .grad takes the array its op's backward made when nothing else can reach it,
and copies it whenever something can (later backwards accumulate into .grad in place)."""
import weakref

import numpy as np

import minigrad as mg
from minigrad.autograd import Function

made = []  # weak references to the gradient arrays the ops below returned (a strong one would be a holder)


class Twice(Function):
    """y = 2x, dy/dx = 2: backward returns a fresh array."""

    def forward(ctx, x):
        return 2 * x

    def backward(ctx, gy):
        g = mg.as_tensor(2 * gy.data)
        made.append(weakref.ref(g.data))
        return g


class Fork(Function):
    """z = x + y, whose backward hands the very same tensor to both inputs."""

    def forward(ctx, x, y):
        return x + y

    def backward(ctx, gz):
        g = mg.as_tensor(gz.data * 1.0)
        made.append(weakref.ref(g.data))
        return g, g


def _leaf(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_a_fresh_gradient_becomes_the_grad_without_a_copy():
    made.clear()
    w = _leaf([1.0, 2.0, 3.0])
    Twice.apply(w).sum().backward()
    assert w.grad.data is made[0]()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_one_gradient_handed_to_two_leaves_gives_each_its_own_array():
    made.clear()
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    Fork.apply(a, b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    # accumulating into one must leave the other alone
    Fork.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])


def test_a_gradient_the_user_holds_is_copied():
    x = _leaf([1.0, 2.0])
    given = mg.tensor([5.0, 7.0], dtype=mg.float64)
    x.backward(given)
    assert not np.shares_memory(x.grad.data, given.data)
    x.backward(given)  # accumulates in place: the user's tensor keeps its values
    np.testing.assert_array_equal(given.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 14.0])


def test_a_gradient_that_is_a_view_is_copied():
    # the gradient reaching x through a reshape is a numpy view of the one its consumer made
    x = _leaf([[1.0, 2.0], [3.0, 4.0]])
    (x.reshape(4) * mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=mg.float64)).sum().backward()
    assert x.grad.data.base is None
    (x.reshape(4) * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 3.0], [4.0, 5.0]])


def test_retain_graph_keeps_the_nodes_values_unchanged_by_accumulation():
    made.clear()
    w = _leaf([1.0, 2.0])
    loss = (Twice.apply(w) * Twice.apply(w)).sum()  # d/dw (2w)^2 = 8w
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * 8 * np.array([1.0, 2.0]))


def test_the_same_values_as_before_in_a_training_loop():
    # SGD on a tiny regression, every step's .grad against the hand-worked gradient 2 X^T (Xw - y) / n
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3))
    y = rng.normal(size=8)
    w = _leaf(np.zeros(3))
    opt = mg.optim.SGD([w], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        ((mg.tensor(X) @ w - mg.tensor(y)) ** 2).mean().backward()
        expected = 2 * X.T @ (X @ w.data - y) / len(y)
        np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
        opt.step()
