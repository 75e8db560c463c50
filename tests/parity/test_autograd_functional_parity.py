"""minigrad.autograd.functional against torch.autograd.functional: jacobian, hessian, vjp, jvp,
hvp and vhp on the same functions and inputs (float64, 1e-9), single tensors and tuples, with
create_graph (the results differentiate again) and strict."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch: pip install 'torch==2.13.0'")

import minigrad as mg  # noqa: E402
import minigrad.autograd.functional as AF  # noqa: E402
from minigrad.autograd.functional import hessian, jacobian  # noqa: E402

TAF = torch.autograd.functional


def lib_of(t):
    return torch if isinstance(t, torch.Tensor) else mg


# functions written once for both libraries (their methods are spelled the same)
def f_vec(x):  # R^3 -> R^2
    return torch.stack([(x * x).sum(), (x.sin() * x[0]).sum()]) if isinstance(x, torch.Tensor) else \
        mg.stack([(x * x).sum(), (x.sin() * x[0]).sum()])


def f_two(x, w):  # (R^3, R^{2x3}) -> (R^2, R)
    y = (w @ x).tanh()
    return y, (y * y).sum() + (x ** 3).sum()


def f_scalar(x):
    return (x.exp() * x).sum() + (x[0] * x[1]) ** 2


def f_scalar_two(x, w):
    return ((w @ x).tanh() ** 2).sum() + (x * x * x).sum()


X = np.array([0.3, -1.2, 0.8])
W = np.random.default_rng(0).standard_normal((2, 3))


def both(*arrays):
    return [torch.tensor(a, dtype=torch.float64) for a in arrays], [mg.tensor(a, dtype=mg.float64) for a in arrays]


def assert_same(ours, theirs):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("func, arrays", [(f_vec, [X]), (f_two, [X, W]), (f_scalar, [X])],
                         ids=["vector", "tuple_in_tuple_out", "scalar"])
def test_jacobian(func, arrays):
    t, m = both(*arrays)
    t_in, m_in = (t[0], m[0]) if len(arrays) == 1 else (tuple(t), tuple(m))
    assert_same(jacobian(func, m_in), TAF.jacobian(func, t_in))


@pytest.mark.parametrize("func, arrays", [(f_scalar, [X]), (f_scalar_two, [X, W])], ids=["single", "tuple"])
def test_hessian(func, arrays):
    t, m = both(*arrays)
    t_in, m_in = (t[0], m[0]) if len(arrays) == 1 else (tuple(t), tuple(m))
    assert_same(hessian(func, m_in), TAF.hessian(func, t_in))


def test_vjp_and_jvp():
    (tx, tw), (mx, mw) = both(X, W)
    (tv1, tv2), (mv1, mv2) = both(np.array([0.5, -2.0]), np.array(1.5))
    assert_same(AF.vjp(f_two, (mx, mw), (mv1, mv2)), TAF.vjp(f_two, (tx, tw), (tv1, tv2)))
    (tu,), (mu,) = both(np.array([1.0, 0.5, -0.25]))
    assert_same(AF.vjp(f_vec, mx, mv1), TAF.vjp(f_vec, tx, tv1))
    assert_same(AF.jvp(f_vec, mx, mu), TAF.jvp(f_vec, tx, tu))
    (tdw,), (mdw,) = both(np.ones((2, 3)) * 0.3)
    assert_same(AF.jvp(f_two, (mx, mw), (mu, mdw)), TAF.jvp(f_two, (tx, tw), (tu, tdw)))
    assert_same(AF.vjp(f_scalar, mx), TAF.vjp(f_scalar, tx))  # v may be left out for one element


def test_hvp_and_vhp():
    (tx, tw), (mx, mw) = both(X, W)
    (tu, tdw), (mu, mdw) = both(np.array([1.0, 0.5, -0.25]), np.ones((2, 3)) * 0.3)
    assert_same(AF.hvp(f_scalar, mx, mu), TAF.hvp(f_scalar, tx, tu))
    assert_same(AF.vhp(f_scalar, mx, mu), TAF.vhp(f_scalar, tx, tu))
    assert_same(AF.hvp(f_scalar_two, (mx, mw), (mu, mdw)), TAF.hvp(f_scalar_two, (tx, tw), (tu, tdw)))
    assert_same(AF.vhp(f_scalar_two, (mx, mw), (mu, mdw)), TAF.vhp(f_scalar_two, (tx, tw), (tu, tdw)))


def test_create_graph_results_differentiate_again():
    """d/dx of trace(H(x)) for f = sum(exp(x) x): third derivatives, against torch."""
    results = []
    for lib in (torch, mg):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        h = (TAF if lib is torch else AF).hessian(f_scalar, x, create_graph=True)
        trace = (h * (torch.eye(3, dtype=torch.float64) if lib is torch else mg.eye(3, dtype=mg.float64))).sum()
        (g,) = (torch.autograd.grad if lib is torch else mg.autograd.grad)(trace, [x])
        results.append(g)
    assert_same(results[1], results[0])
    ours = jacobian(f_vec, mg.tensor(X, dtype=mg.float64))
    assert not ours.requires_grad  # without create_graph the result is detached


def test_independent_outputs_give_zeros_or_a_strict_error():
    x, y = mg.tensor(X, dtype=mg.float64), mg.tensor([1.0, 2.0], dtype=mg.float64)
    jx, jy = jacobian(lambda a, b: a * 2, (x, y))
    np.testing.assert_array_equal(jy.numpy(), np.zeros((3, 2)))
    np.testing.assert_array_equal(jx.numpy(), 2 * np.eye(3))
    with pytest.raises(RuntimeError, match="independent of input 1, which strict mode does not allow"):
        jacobian(lambda a, b: a * 2, (x, y), strict=True)
    _, jv = AF.jvp(lambda a: a.detach() * 2, x, mg.ones(3, dtype=mg.float64))
    np.testing.assert_array_equal(jv.numpy(), np.zeros(3))


def test_errors():
    x = mg.tensor(X, dtype=mg.float64)
    with pytest.raises(RuntimeError, match="hessian: the function must return a single Tensor with one element"):
        hessian(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="vjp: v can be left out only when"):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(TypeError, match="jacobian: inputs must be a Tensor or a tuple of Tensors"):
        jacobian(lambda a: a, [1.0])
