"""Elementwise ops: values against numpy, gradients against finite differences (float64),
second derivatives with gradgradcheck, broadcasting drawn by hypothesis."""
import math

import numpy as np
import pytest
from engine_helpers import arrays, broadcastable_shapes, leaf, shapes
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck

try:
    from scipy.special import erf as _erf_ref
except ImportError:  # the exact but slow reference
    _erf_ref = np.vectorize(math.erf)


def _phi_cdf(x):
    return 0.5 * (1 + _erf_ref(x / math.sqrt(2)))


# name -> (minigrad function, numpy reference, value kind, lo, hi)
UNARY = {
    "neg": (lambda x: -x, lambda a: -a, "smooth", -2, 2),
    "exp": (lambda x: x.exp(), np.exp, "smooth", -2, 2),
    "log": (lambda x: x.log(), np.log, "smooth", 0.2, 3),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "smooth", 0.2, 3),
    "rsqrt": (lambda x: x.rsqrt(), lambda a: 1 / np.sqrt(a), "smooth", 0.2, 3),
    "abs": (lambda x: x.abs(), np.abs, "grid", -2, 2),
    "sin": (lambda x: x.sin(), np.sin, "smooth", -3, 3),
    "cos": (lambda x: x.cos(), np.cos, "smooth", -3, 3),
    "tanh": (lambda x: x.tanh(), np.tanh, "smooth", -3, 3),
    "sigmoid": (lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), "smooth", -4, 4),
    "relu": (lambda x: x.relu(), lambda a: np.maximum(a, 0), "grid", -2, 2),
    "erf": (lambda x: x.erf(), _erf_ref, "smooth", -2, 2),
    "gelu": (lambda x: x.gelu(), lambda a: a * _phi_cdf(a), "smooth", -3, 3),
    "gelu_tanh": (
        lambda x: x.gelu(approximate="tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))),
        "smooth", -3, 3,
    ),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), "grid", -2, 2),
    "clamp_min": (lambda x: x.clamp(min=0.3), lambda a: np.maximum(a, 0.3), "grid", -2, 2),
    "clamp_max": (lambda x: x.clamp(max=-0.2), lambda a: np.minimum(a, -0.2), "grid", -2, 2),
    "square": (lambda x: x.square(), np.square, "smooth", -2, 2),
    "pow_int": (lambda x: x**3, lambda a: a**3, "smooth", -2, 2),
    "pow_frac": (lambda x: x**2.5, lambda a: a**2.5, "smooth", 0.2, 2),
    "pow_neg": (lambda x: x**-2, lambda a: a**-2.0, "smooth", 0.3, 2),
    "rpow": (lambda x: 2.0**x, lambda a: 2.0**a, "smooth", -2, 2),
    "rsub": (lambda x: 1.5 - x, lambda a: 1.5 - a, "smooth", -2, 2),
    "rdiv": (lambda x: 2.0 / x, lambda a: 2.0 / a, "smooth", 0.3, 2),
    "div_scalar": (lambda x: x / 4.0, lambda a: a / 4.0, "smooth", -2, 2),
    "scalar_ops": (lambda x: 3 * x + 1 - x * 0.5, lambda a: 3 * a + 1 - a * 0.5, "smooth", -2, 2),
    "maximum_scalar": (lambda x: x.maximum(0.3), lambda a: np.maximum(a, 0.3), "grid", -2, 2),
    "minimum_scalar": (lambda x: x.minimum(0.3), lambda a: np.minimum(a, 0.3), "grid", -2, 2),
}

# (minigrad function of two tensors, numpy reference, value kind, lo, hi)
BINARY = {
    "add": (lambda x, y: x + y, np.add, "smooth", -2, 2),
    "sub": (lambda x, y: x - y, np.subtract, "smooth", -2, 2),
    "mul": (lambda x, y: x * y, np.multiply, "smooth", -2, 2),
    "div": (lambda x, y: x / y, np.divide, "smooth", 0.3, 2),
    "pow": (lambda x, y: x**y, np.power, "smooth", 0.3, 2),
    # ties are allowed: the gradient splits in half, which is also what a central difference sees
    "maximum": (lambda x, y: x.maximum(y), np.maximum, "grid", -1, 1),
    "minimum": (lambda x, y: x.minimum(y), np.minimum, "grid", -1, 1),
}


@st.composite
def unary_case(draw, name):
    _, _, kind, lo, hi = UNARY[name]
    return draw(arrays(draw(shapes()), kind, lo, hi))


@st.composite
def binary_case(draw, name, max_side=4):
    _, _, kind, lo, hi = BINARY[name]
    sx, sy = draw(broadcastable_shapes(max_side=max_side))
    return draw(arrays(sx, kind, lo, hi)), draw(arrays(sy, kind, lo, hi))


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=15)
@given(data=st.data())
def test_unary_value_and_gradient(name, data):
    fn, ref, *_ = UNARY[name]
    a = data.draw(unary_case(name))
    x = leaf(a)
    y = fn(x)
    assert y.shape == a.shape and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ref(a), rtol=1e-7, atol=1e-12)
    assert gradcheck(fn, [x])


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=5)
@given(data=st.data())
def test_unary_second_derivative(name, data):
    fn, _, kind, lo, hi = UNARY[name]
    a = data.draw(arrays(data.draw(shapes(max_dims=2, max_side=3)), kind, lo, hi))
    assert gradgradcheck(fn, [leaf(a)])


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=20)
@given(data=st.data())
def test_binary_broadcasting_value_and_gradient(name, data):
    fn, ref, *_ = BINARY[name]
    a, b = data.draw(binary_case(name))
    x, y = leaf(a), leaf(b)
    z = fn(x, y)
    np.testing.assert_allclose(z.numpy(), ref(a, b), rtol=1e-7, atol=1e-12)
    assert gradcheck(fn, [x, y])
    # each gradient has its input's shape, whatever the broadcasting did
    z.sum().backward()
    assert x.grad.shape == a.shape and y.grad.shape == b.shape


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=6)
@given(data=st.data())
def test_binary_second_derivative(name, data):
    fn = BINARY[name][0]
    a, b = data.draw(binary_case(name, max_side=3))
    if name in ("maximum", "minimum"):
        b = b + 0.03  # off x's grid: at a tie the first derivative jumps, so it has no derivative
    assert gradgradcheck(fn, [leaf(a), leaf(b)])


@settings(max_examples=15)
@given(data=st.data())
def test_where_three_way_broadcast(data):
    sc, sx, sy = data.draw(broadcastable_shapes(3))
    cond = data.draw(arrays(sc, "smooth")) > 0
    a, b = data.draw(arrays(sx)), data.draw(arrays(sy))
    x, y = leaf(a), leaf(b)
    fn = lambda x, y: mg.where(mg.tensor(cond), x, y)  # noqa: E731
    np.testing.assert_array_equal(fn(x, y).numpy(), np.where(cond, a, b))
    assert gradcheck(fn, [x, y])
    assert gradgradcheck(lambda x, y: fn(x, y) * fn(x, y), [x, y])


@settings(max_examples=15)
@given(data=st.data())
def test_masked_fill(data):
    sx, sm = data.draw(broadcastable_shapes(2))
    a = data.draw(arrays(sx))
    mask = data.draw(arrays(sm)) > 0
    x = leaf(a)
    y = x.masked_fill(mg.tensor(mask), -7.0)
    np.testing.assert_array_equal(y.numpy(), np.where(mask, -7.0, a))
    assert gradcheck(lambda x: x.masked_fill(mg.tensor(mask), -7.0) * x, [x])


def test_relu_abs_clamp_derivatives_at_the_kink_follow_pytorch():
    """At the kink there is no derivative; PyTorch's choices: relu'(0) = 0, |x|'(0) = 0,
    clamp passes the gradient when x equals a bound."""
    x = mg.tensor([0.0, -0.5, 0.5], dtype=mg.float64, requires_grad=True)
    (x.relu() + x.abs() + x.clamp(-0.5, 0.5)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0 + 0 + 1, 0 - 1 + 1, 1 + 1 + 1])


def test_maximum_minimum_split_ties():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([1.0, 0.0], requires_grad=True)
    (x.maximum(y) + 10 * x.minimum(y)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5 + 5, 1 + 0])
    np.testing.assert_allclose(y.grad.numpy(), [0.5 + 5, 0 + 10])


def test_cast_between_float_dtypes_carries_the_gradient_back():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    # second derivative through the cast: d2/dx2 sum(x^3) = 6x
    x = mg.tensor([0.5, -1.5], dtype=mg.float64, requires_grad=True)
    (g,) = mg.autograd.grad((x.float() ** 3).sum(), [x], create_graph=True)
    (gg,) = mg.autograd.grad(g.sum(), [x])
    assert g.dtype == gg.dtype == np.float64
    np.testing.assert_allclose(gg.numpy(), [3.0, -9.0], rtol=1e-6)
    # a quadratic: central differences are exact, so a wide eps steps over float32 rounding
    assert gradcheck(lambda x: x.float().double() ** 2, [leaf([0.5, -1.5])], eps=1e-2, atol=1e-4)


def test_pow_with_tensor_exponent_of_a_negative_base_gives_nan_gradient_not_a_crash():
    x = mg.tensor([-2.0], dtype=mg.float64, requires_grad=True)
    y = mg.tensor([2.0], dtype=mg.float64, requires_grad=True)
    (x**y).sum().backward()
    assert x.grad.item() == pytest.approx(-4.0)
    assert np.isnan(y.grad.item())  # d/dy x**y = x**y log(x), undefined for x < 0


def test_pow_zero_exponent_and_integer_exponent_of_zero():
    x = mg.tensor([0.0, 3.0], dtype=mg.float64, requires_grad=True)
    (x**0 + x**2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0])


def test_sigmoid_is_finite_for_huge_inputs():
    x = mg.tensor([-1e4, 1e4, 0.0], requires_grad=True)
    y = x.sigmoid()
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [0.0, 1.0, 0.5])
    assert np.isfinite(x.grad.numpy()).all()
