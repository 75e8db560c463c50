"""The backward engine: accumulation, hooks, retain_grad, autograd.grad, grad modes, in-place
ops with version counters, higher derivatives, and deep graphs."""
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd


def test_hand_worked_chain_rule():
    """f = (a*b + c)^2 at a=2, b=3, c=1: f = 49, df/da = 2*7*b = 42, df/db = 28, df/dc = 14."""
    a, b, c = (mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in (2.0, 3.0, 1.0))
    f = (a * b + c) ** 2
    f.backward()
    assert f.item() == 49.0
    assert (a.grad.item(), b.grad.item(), c.grad.item()) == (42.0, 28.0, 14.0)


def test_shared_subexpression_gets_the_sum_of_its_paths():
    x = mg.tensor(3.0, requires_grad=True)
    h = x * x  # used three times below
    y = h + h * 2 + h.exp() * 0
    y.backward()
    assert x.grad.item() == pytest.approx(3 * 2 * 3.0)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3 + 2, 3 + 4]
    x.grad.zero_()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3, 3]
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1, 1]


def test_leaf_grad_is_a_fresh_array_not_shared_with_other_leaves():
    x = mg.tensor([1.0], requires_grad=True)
    y = mg.tensor([1.0], requires_grad=True)
    (x + y).sum().backward()  # both receive the same upstream gradient
    x.grad.data += 10
    assert y.grad.tolist() == [1.0]


def test_backward_with_an_explicit_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(gradient=mg.tensor([1.0, 0.1, 0.01]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.4, 0.06], rtol=1e-6)


def test_hooks_on_leaf_and_non_leaf_see_and_may_replace_the_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = {}

    def spy(name):
        def hook(g):
            seen[name] = g.tolist()  # returns None: the gradient flows on unchanged

        return hook

    h = x * 2
    h.register_hook(spy("h"))
    handle = h.register_hook(lambda g: g * 10)  # replaces the gradient flowing on
    x.register_hook(spy("x"))
    (h * h).sum().backward()
    assert seen["h"] == [4.0, 8.0]  # d(h^2)/dh = 2h
    assert seen["x"] == [80.0, 160.0]  # the replaced gradient, times dh/dx = 2
    assert x.grad.tolist() == [80.0, 160.0]
    handle.remove()
    x.grad = None
    h = x * 2
    (h * h).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0]
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor that does not require grad"):
        mg.zeros(2).register_hook(lambda g: g)


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    other = x * 3
    (h * h + other).sum().backward()
    assert h.grad.tolist() == [6.0, 12.0]
    assert other.grad is None


def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    y = (h * h).sum()
    gx, gh = autograd.grad(y, [x, h])
    assert gx.tolist() == [2 * 3 * 3 * 1, 2 * 8 * 4]  # 2 h w
    assert gh.tolist() == [6.0, 16.0]
    assert x.grad is None and w.grad is None


def test_autograd_grad_allow_unused():
    x = mg.tensor(1.0, requires_grad=True)
    unused = mg.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"autograd.grad: input 1 \(shape \(\)\) was not used.*allow_unused=True"):
        autograd.grad(x * 2, [x, unused])
    gx, gu = autograd.grad(x * 2, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_autograd_grad_of_several_outputs_with_grad_outputs():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = autograd.grad([x * 2, x * x], [x], [mg.tensor([1.0, 1.0]), mg.tensor([0.5, 0.5])])
    assert g.tolist() == [2 + 1.0, 2 + 2.0]


def test_retain_graph_allows_a_second_backward():
    x = mg.tensor(2.0, requires_grad=True)
    y = x.exp() * x
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * first)


# -- grad modes ---------------------------------------------------------------------------------
def test_no_grad_and_enable_grad_as_context_managers():
    x = mg.tensor(1.0, requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
        with mg.enable_grad():
            z = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_and_enable_grad_as_decorators():
    x = mg.tensor(1.0, requires_grad=True)

    @mg.no_grad()
    def f(t):
        return t * 2

    @mg.no_grad
    def f_bare(t):
        return t * 2

    @mg.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not f_bare(x).requires_grad
    assert f.__name__ == "f"
    with mg.no_grad():
        assert g(x).requires_grad
    assert mg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad():
            1 / 0
    assert mg.is_grad_enabled()


def test_set_grad_enabled():
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


# -- in-place ops and version counters ----------------------------------------------------------
def test_inplace_ops_on_plain_tensors_change_values_and_bump_the_version():
    t = mg.tensor([1.0, 2.0])
    v0 = t._version[0]
    t.add_(1.0)
    t.mul_(2.0)
    t.sub_(1.0)
    t.div_(2.0)
    assert t.tolist() == [1.5, 2.5]
    t += 1
    t[0] = 10.0
    assert t.tolist() == [10.0, 3.5]
    t.fill_(7.0)
    assert t.tolist() == [7.0, 7.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0]
    assert t._version[0] == v0 + 8


def test_inplace_update_of_a_parameter_under_no_grad_like_an_optimizer():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with mg.no_grad():
        w.sub_(w.grad * 0.1)
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])


def test_inplace_on_a_leaf_that_requires_grad_is_an_error():
    w = mg.tensor([1.0], requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.mul_(2.0), lambda: w.zero_(), lambda: w.fill_(1.0)):
        with pytest.raises(RuntimeError, match=r"a leaf tensor that requires grad .* in-place operation.*no_grad"):
            op()
    with pytest.raises(RuntimeError, match="__setitem__: a view of a leaf tensor that requires grad"):
        w[0] = 3.0


def test_inplace_ops_on_a_non_leaf_are_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 5.0], requires_grad=True)
    a = x * 2
    a.mul_(w)  # a = 2 x w: the node keeps the old a for dL/dw
    a.add_(x)  # a = 2 x w + x
    a.sum().backward()
    assert x.grad.tolist() == [2 * 3 + 1, 2 * 5 + 1]
    assert w.grad.tolist() == [2.0, 4.0]
    assert not a.is_leaf


def test_zero_and_fill_on_a_non_leaf_cut_the_gradient_to_the_old_value():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    a.fill_(3.0)
    b = x * 2
    b.zero_()
    (a * x + b).sum().backward()
    assert a.tolist() == [3.0, 3.0] and b.tolist() == [0.0, 0.0]
    assert x.grad.tolist() == [3.0, 3.0]  # only the a * x term: a's old value took no part


def test_setitem_into_a_non_leaf_sends_gradient_to_the_value_and_the_rest():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = mg.tensor(10.0, requires_grad=True)
    y = x * 1.0
    y[1] = v * 2
    (y * mg.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [1.0, 20.0, 3.0]
    assert x.grad.tolist() == [1.0, 0.0, 3.0]
    assert v.grad.item() == 4.0


def test_setitem_of_a_value_that_requires_grad_into_a_plain_tensor():
    buf = mg.zeros(3)
    v = mg.tensor([1.0, 2.0], requires_grad=True)
    buf[1:] = v * 3
    assert buf.requires_grad and not buf.is_leaf
    buf.sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]


# -- higher derivatives ------------------------------------------------------------------------
def test_higher_derivatives_of_a_polynomial():
    x = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    y = x**4
    (d1,) = autograd.grad(y, [x], create_graph=True)
    (d2,) = autograd.grad(d1, [x], create_graph=True)
    (d3,) = autograd.grad(d2, [x], create_graph=True)
    (d4,) = autograd.grad(d3, [x])
    assert (d1.item(), d2.item(), d3.item(), d4.item()) == (32.0, 48.0, 48.0, 24.0)


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = mg.tensor(3.0, dtype=mg.float64, requires_grad=True)
    y = x.sin() * x
    y.backward(create_graph=True)
    g = x.grad  # sin x + x cos x
    assert g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(2 * np.cos(3.0) - 3.0 * np.sin(3.0))


def test_hessian_vector_product_of_a_small_mlp_matches_finite_differences():
    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 1))
    xs = rng.standard_normal((5, 3))
    v = rng.standard_normal((3, 4))

    def loss_and_grad(w1_array):
        w1 = mg.tensor(w1_array, requires_grad=True)
        h = (mg.tensor(xs) @ w1 + mg.tensor(b1)).tanh()
        loss = ((h @ mg.tensor(W2)) ** 2).mean()
        (g,) = autograd.grad(loss, [w1], create_graph=True)
        return w1, g

    w1, g = loss_and_grad(W1)
    (hvp,) = autograd.grad((g * mg.tensor(v)).sum(), [w1])
    eps = 1e-5
    fd = (loss_and_grad(W1 + eps * v)[1].numpy() - loss_and_grad(W1 - eps * v)[1].numpy()) / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), fd, rtol=1e-6, atol=1e-8)


# -- deep graphs -------------------------------------------------------------------------------
def test_a_chain_of_10000_ops_backprops_with_the_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000  # the chain is longer than the limit allows recursion
    x = mg.tensor(1.0, dtype=mg.float64, requires_grad=True)
    h = x
    for _ in range(10_000):
        h = h * 1.0001
    h.backward()
    assert x.grad.item() == pytest.approx(1.0001**10_000)
    del h  # freeing a 10,000-deep graph must not recurse either


def test_a_long_chain_under_create_graph_and_autograd_grad():
    x = mg.tensor(0.5, dtype=mg.float64, requires_grad=True)
    h = x
    for _ in range(3000):
        h = (h * 0.999).sin() + 0.001
    (g,) = autograd.grad(h, [x], create_graph=True)
    (gg,) = autograd.grad(g, [x])
    assert np.isfinite(g.item()) and np.isfinite(gg.item())
