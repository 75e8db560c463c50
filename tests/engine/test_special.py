"""The float32 normal CDF behind GELU (minigrad/ops/special.py), against math.erfc."""
import math

import numpy as np
import pytest
from numpy.polynomial import Polynomial, chebyshev

import minigrad as mg
from minigrad.ops.special import _ERFC_POLY, normal_cdf


def fit_erfc_polynomial(degree: int = 10, z_max: float = 26.0, n_nodes: int = 200) -> np.ndarray:
    """The coefficients of P (lowest power first) by Chebyshev interpolation against math.erfc,
    on t in [1 / (1 + z_max/2), 1]; z_max = 26 is where erfc still fits in a float64."""
    lo = 1 / (1 + z_max / 2)
    t = lo + (1 - lo) * (np.cos(np.pi * (np.arange(n_nodes) + 0.5) / n_nodes) + 1) / 2
    z = 2 * (1 / t - 1)
    log_ratio = np.array([math.log(math.erfc(zi) / ti) + zi * zi for zi, ti in zip(z, t)])
    scale, shift = 2 / (1 - lo), -2 * lo / (1 - lo) - 1  # u = scale * t + shift maps [lo, 1] to [-1, 1]
    in_u = chebyshev.cheb2poly(chebyshev.chebfit(scale * t + shift, log_ratio, degree))
    return Polynomial(in_u)(Polynomial([shift, scale])).coef


def exact_phi(x):
    return np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in np.ravel(x)]).reshape(np.shape(x))


def test_stored_coefficients_are_the_fit():
    np.testing.assert_allclose(_ERFC_POLY, fit_erfc_polynomial(10), rtol=1e-12, atol=1e-12)


def test_fitted_erfc_is_accurate_in_float64_arithmetic():
    """The approximation itself (before float32 rounding): 4e-8 relative on z in [0, 26]."""
    z = np.linspace(0, 26, 20001)
    t = 1 / (1 + z / 2)
    approx = t * np.exp(-z * z + np.polynomial.polynomial.polyval(t, _ERFC_POLY))
    exact = np.array([math.erfc(v) for v in z])
    assert np.max(np.abs(approx / exact - 1)) < 5e-8


@pytest.mark.parametrize("lo, hi, rtol", [(-6, 6, 5e-6), (-10, 8, 2e-5)])
def test_float32_phi_relative_error(lo, hi, rtol):
    x = np.linspace(lo, hi, 40001).astype(np.float32)
    phi = normal_cdf(x)
    assert phi.dtype == np.float32
    exact = exact_phi(x)
    assert np.max(np.abs(phi - exact) / exact) < rtol
    assert normal_cdf(np.float32([0.0]))[0] == 0.5


def test_float32_phi_is_monotone_and_bounded():
    x = np.linspace(-12, 12, 100001).astype(np.float32)
    phi = normal_cdf(x)
    assert phi.min() >= 0 and phi.max() <= 1
    assert np.all(np.diff(phi) >= 0)


def test_float64_phi_is_exact():
    x = np.linspace(-8, 8, 1001)
    np.testing.assert_allclose(normal_cdf(x), exact_phi(x), rtol=5e-14, atol=1e-300)


def test_gelu_float32_matches_float64_value_and_gradient():
    a = np.random.default_rng(0).standard_normal(5000) * 3
    x32 = mg.tensor(a.astype(np.float32), requires_grad=True)
    y32 = x32.gelu()
    y32.sum().backward()
    a32 = a.astype(np.float32).astype(np.float64)  # the same inputs, exactly
    phi = exact_phi(a32)
    pdf = np.exp(-0.5 * a32 * a32) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(y32.numpy(), a32 * phi, rtol=1.5e-5, atol=1e-30)  # z^2 rounding, see special.py
    np.testing.assert_allclose(x32.grad.numpy(), phi + a32 * pdf, rtol=1.5e-5, atol=2e-7)
