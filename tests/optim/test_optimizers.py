"""SGD, Adam and AdamW against hand-worked updates; groups, errors, dtypes, state_dict round trip.
(The 20-step trajectories against PyTorch are in tests/parity/test_optim_parity.py.)"""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def param(values, dtype=np.float64):
    return mg.tensor(np.array(values, dtype=dtype), requires_grad=True)


def set_grad(p, values):
    p.grad = mg.tensor(np.array(values, dtype=p.dtype))


# -- hand-worked updates --------------------------------------------------------------------------
def test_sgd_plain_step_is_p_minus_lr_g():
    p = param([1.0, -2.0])
    set_grad(p, [0.5, 4.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.05, -2.0 - 0.4], rtol=1e-15)


def test_sgd_momentum_dampening_nesterov_weight_decay_by_hand():
    # g = 1 at every step, p starts at 0, lr = 1, momentum 0.5, dampening 0.25:
    # step 1: b = g = 1 (the first buffer is the gradient, undamped)  p = -1
    # step 2: b = 0.5 * 1 + 0.75 * 1 = 1.25                            p = -2.25
    p = param([0.0])
    opt = optim.SGD([p], lr=1.0, momentum=0.5, dampening=0.25)
    for _ in range(2):
        set_grad(p, [1.0])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [-2.25], rtol=1e-15)

    # nesterov: step 1: b = 1, update g + 0.5 b = 1.5; step 2: b = 1.5, update 1 + 0.75 = 1.75
    p = param([0.0])
    opt = optim.SGD([p], lr=1.0, momentum=0.5, nesterov=True)
    for _ in range(2):
        set_grad(p, [1.0])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [-(1.5 + 1.75)], rtol=1e-15)

    # weight decay adds wd * p to the gradient: p = 2, g = 0, wd = 0.1, lr = 1 -> p = 1.8
    p = param([2.0])
    set_grad(p, [0.0])
    optim.SGD([p], lr=1.0, weight_decay=0.1).step()
    np.testing.assert_allclose(p.numpy(), [1.8], rtol=1e-15)

    # maximize climbs: p = 0, g = 1 -> p = +lr
    p = param([0.0])
    set_grad(p, [1.0])
    optim.SGD([p], lr=0.3, maximize=True).step()
    np.testing.assert_allclose(p.numpy(), [0.3], rtol=1e-15)


def test_adam_first_step_moves_each_coordinate_by_lr_times_sign():
    # after one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps)
    p = param([1.0, 1.0, 1.0])
    g = np.array([3.0, -0.02, 1e-3])
    set_grad(p, g)
    optim.Adam([p], lr=0.1, eps=1e-8).step()
    np.testing.assert_allclose(p.numpy(), 1.0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_adam_second_step_by_hand():
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    g1, g2 = 2.0, -1.0
    m = (1 - b1) * g1
    v = (1 - b2) * g1**2
    p_expected = 0.5 - lr * (m / (1 - b1)) / (math.sqrt(v / (1 - b2)) + eps)
    m = b1 * m + (1 - b1) * g2
    v = b2 * v + (1 - b2) * g2**2
    p_expected -= lr * (m / (1 - b1**2)) / (math.sqrt(v) / math.sqrt(1 - b2**2) + eps)

    p = param([0.5])
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    for g in (g1, g2):
        set_grad(p, [g])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [p_expected], rtol=1e-12)


def test_amsgrad_keeps_the_largest_second_moment():
    # a big gradient then a tiny one: with amsgrad the denominator remembers the big one
    b1, b2, lr = 0.0, 0.5, 1.0  # beta1 = 0: m = g
    p_plain, p_ams = param([0.0]), param([0.0])
    opt_plain = optim.Adam([p_plain], lr=lr, betas=(b1, b2), eps=0.0)
    opt_ams = optim.Adam([p_ams], lr=lr, betas=(b1, b2), eps=0.0, amsgrad=True)
    for g in (10.0, 0.1):
        set_grad(p_plain, [g])
        set_grad(p_ams, [g])
        opt_plain.step()
        opt_ams.step()
    v1 = 0.5 * 100.0
    v2 = 0.5 * v1 + 0.5 * 0.01
    # step 2 with amsgrad uses max(v1, v2) = v1; without, v2
    ams_step2 = 0.1 / (math.sqrt(v1) / math.sqrt(1 - 0.25))
    plain_step2 = 0.1 / (math.sqrt(v2) / math.sqrt(1 - 0.25))
    np.testing.assert_allclose(p_ams.numpy(), [-1.0 - ams_step2], rtol=1e-12)
    np.testing.assert_allclose(p_plain.numpy(), [-1.0 - plain_step2], rtol=1e-12)


def test_adamw_decay_is_decoupled_and_adam_decay_is_not():
    # zero gradient: AdamW only shrinks p by (1 - lr * wd); Adam's decay enters the gradient
    # (g = wd * p) and is then normalised to a step of size lr
    p_w, p_a = param([2.0, -3.0]), param([2.0, -3.0])
    set_grad(p_w, [0.0, 0.0])
    set_grad(p_a, [0.0, 0.0])
    optim.AdamW([p_w], lr=0.1, weight_decay=0.5).step()
    optim.Adam([p_a], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p_w.numpy(), [2.0 * 0.95, -3.0 * 0.95], rtol=1e-15)
    np.testing.assert_allclose(p_a.numpy(), [2.0 - 0.1, -3.0 + 0.1], rtol=1e-7)
    assert optim.AdamW([param([1.0])]).param_groups[0]["weight_decay"] == 1e-2


def test_adam_finds_the_minimum_of_a_quadratic():
    # f(p) = sum (A p - b)^2 has its minimum at the least-squares solution
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 3))
    b = rng.normal(size=6)
    p = param(np.zeros(3))
    opt = optim.Adam([p], lr=0.05)
    for _ in range(1500):
        loss = ((mg.tensor(A) @ p - mg.tensor(b)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-4)


# -- bookkeeping ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.1),
])
def test_float32_stays_float32_and_version_is_bumped(make):
    p = param(np.ones((2, 3)), dtype=np.float32)
    opt = make([p])
    for _ in range(2):
        set_grad(p, np.full((2, 3), 0.5))
        v = p._version[0]
        opt.step()
        assert p._version[0] == v + 1
    assert p.dtype == np.float32 and p.data.dtype == np.float32
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_update_after_forward_makes_backward_refuse():
    # an optimizer step is an in-place change: a graph that saved p must not backprop silently
    p = param([1.0, 2.0])
    y = (p * p).sum()
    set_grad(p, [1.0, 1.0])
    optim.SGD([p], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_params_without_grad_are_skipped():
    a, b = param([1.0]), param([1.0])
    set_grad(a, [1.0])
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert b.numpy()[0] == 1.0 and b not in opt.state and a in opt.state


def test_param_groups_use_their_own_lr_and_defaults():
    a, b = param([0.0]), param([0.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.5)
    assert opt.param_groups[1]["momentum"] == 0.5
    for p in (a, b):
        set_grad(p, [1.0])
    opt.step()
    assert a.numpy()[0] == pytest.approx(-0.1) and b.numpy()[0] == pytest.approx(-1.0)
    c = param([0.0])
    opt.add_param_group({"params": c, "lr": 2.0})
    set_grad(c, [1.0])
    opt.step()
    assert c.numpy()[0] == pytest.approx(-2.0)


def test_zero_grad():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [3.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.numpy()[0] == 0.0
    opt.zero_grad()
    assert p.grad is None


def test_bad_arguments_give_clear_errors():
    p = param([1.0])
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="required"):
        optim.SGD([p])
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="beta parameter at index 0"):
        optim.AdamW([p], betas=(-0.1, 0.999))
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([p], lr=-1e-3)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="floating point"):
        optim.Adam([mg.tensor([1, 2])])


# -- state_dict ---------------------------------------------------------------------------------
def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return [param(rng.normal(size=(3, 2))), param(rng.normal(size=2))], rng.normal(size=(5, 3))


def _train(params, opt, x, steps):
    for _ in range(steps):
        w, b = params
        loss = ((mg.tensor(x) @ w + b).tanh() ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, momentum=0.9),
    lambda ps: optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1),
])
def test_state_dict_round_trip_continues_the_same_trajectory(make):
    params, x = _problem()
    opt = make(params)
    _train(params, opt, x, 5)
    saved = opt.state_dict()
    for s in saved["state"].values():  # numpy arrays, ready for minigrad.io
        assert all(isinstance(v, (np.ndarray, int, float)) for v in s.values())
    assert [g["params"] for g in saved["param_groups"]] in ([[0], [1]], [[0, 1]])

    snapshot = copy.deepcopy(saved)

    # a fresh copy of the parameters with a fresh optimizer, loaded from the saved state
    copies = [param(p.numpy().copy()) for p in params]
    opt2 = make(copies)
    opt2.load_state_dict(saved)
    _train(params, opt, x, 5)
    _train(copies, opt2, x, 5)
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.numpy(), q.numpy())

    # the saved dict is a snapshot: neither optimizer's later steps changed it
    for i, s in snapshot["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(saved["state"][i][k], v)


def test_load_state_dict_refuses_mismatched_groups():
    params, _ = _problem()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    other = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(other.state_dict())
    small = optim.SGD(params[:1], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters"):
        opt.load_state_dict(small.state_dict())
