"""clip_grad_norm_ / clip_grad_value_ against hand-worked norms (PyTorch's: tests/parity)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim


def params_with_grads(*grads, dtype=np.float64):
    ps = []
    for g in grads:
        p = mg.tensor(np.zeros(np.shape(g), dtype=dtype), requires_grad=True)
        p.grad = mg.tensor(np.array(g, dtype=dtype))
        ps.append(p)
    return ps


def test_norm_of_all_gradients_together_and_scaling():
    # ||(3, 4)|| = 5 and ||(12,)|| = 12: together sqrt(25 + 144) = 13
    a, b = params_with_grads([3.0, 4.0], [12.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert isinstance(total, mg.Tensor) and total.item() == pytest.approx(13.0, rel=1e-15)
    coef = 1.0 / (13.0 + 1e-6)  # PyTorch's 1e-6
    np.testing.assert_allclose(a.grad.numpy(), [3 * coef, 4 * coef], rtol=1e-15)
    np.testing.assert_allclose(b.grad.numpy(), [12 * coef], rtol=1e-15)


def test_small_norm_is_left_alone():
    (a,) = params_with_grads([0.3, -0.4])
    assert optim.clip_grad_norm_(a, max_norm=1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad.numpy(), [0.3, -0.4])


def test_other_norm_types():
    a, b = params_with_grads([3.0, -4.0], [-5.0])
    assert optim.clip_grad_norm_([a, b], 100.0, norm_type=1).item() == pytest.approx(12.0)
    assert optim.clip_grad_norm_([a, b], 100.0, norm_type=math.inf).item() == pytest.approx(5.0)
    assert optim.clip_grad_norm_([a, b], 100.0, norm_type=3).item() == pytest.approx((27 + 64 + 125) ** (1 / 3))


def test_params_without_grad_and_nonfinite_norms():
    p = mg.tensor([1.0], requires_grad=True)
    assert optim.clip_grad_norm_([p], 1.0).item() == 0.0
    (a,) = params_with_grads([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert math.isnan(optim.clip_grad_norm_([a], 1.0).item())


def test_float32_gradients_stay_float32():
    (a,) = params_with_grads([30.0, 40.0], dtype=np.float32)
    total = optim.clip_grad_norm_([a], 1.0)
    assert a.grad.dtype == np.float32 and total.dtype == np.float32


def test_clip_grad_value():
    (a,) = params_with_grads([-3.0, 0.5, 2.0])
    optim.clip_grad_value_([a], 1.0)
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        optim.clip_grad_value_([a], -1.0)


def test_reachable_from_nn_utils():
    a, b = params_with_grads([6.0, 8.0], [0.0])
    assert nn.utils.clip_grad_norm_([a, b], 5.0).item() == pytest.approx(10.0)
    assert np.linalg.norm(a.grad.numpy()) == pytest.approx(5.0, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5), min_size=1, max_size=4),
       st.floats(1e-3, 1e3))
def test_clipped_norm_never_exceeds_max_norm(grads, max_norm):
    ps = params_with_grads(*grads)
    flat = np.concatenate([np.array(g) for g in grads])
    total = optim.clip_grad_norm_(ps, max_norm).item()
    assert total == pytest.approx(np.linalg.norm(flat), rel=1e-12, abs=1e-300)
    after = np.linalg.norm(np.concatenate([p.grad.numpy() for p in ps]))
    assert after <= max_norm * (1 + 1e-12)
    if total + 1e-6 <= max_norm:  # then the coefficient max_norm / (total + 1e-6) is >= 1
        np.testing.assert_array_equal(np.concatenate([p.grad.numpy() for p in ps]), flat)
