"""gradcheck / gradgradcheck: they pass on right derivatives and catch wrong ones."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import gradcheck, gradgradcheck
from minigrad.autograd import Function
from minigrad.backend import xp_of


class Cube(Function):
    """y = x**3, with a backward that is right."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 3 * x * x


class CubeWrongSlope(Cube):
    """A backward that is off by a factor (a typical hand-derivation slip)."""

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 2 * x * x


class CubeFirstOrderOnly(Cube):
    """Right first derivative, but the saved x is treated as a constant: d/dx of the
    gradient misses the 6x term."""

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * 3 * x.detach() * x.detach()


class CubeOnRawArrays(Cube):
    """Right first derivative computed on raw arrays: the gradient leaves the graph."""

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return mg.Tensor._make(gy.data * 3 * x.data**2, False, None)


def x64(values):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


def test_gradcheck_passes_on_a_right_backward_and_catches_a_wrong_one():
    assert gradcheck(Cube.apply, [x64([0.5, -1.5, 2.0])])
    with pytest.raises(AssertionError, match=r"gradcheck: Jacobian mismatch for input 0 \(shape \(3,\)\).*analytical .* vs numerical"):
        gradcheck(CubeWrongSlope.apply, [x64([0.5, -1.5, 2.0])])
    assert gradcheck(CubeWrongSlope.apply, [x64([0.5])], raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    assert gradgradcheck(Cube.apply, [x64([0.5, -1.5])])
    assert gradcheck(CubeFirstOrderOnly.apply, [x64([0.5, -1.5])])  # first order is fine...
    with pytest.raises(AssertionError, match="Jacobian mismatch for input 0"):
        gradgradcheck(CubeFirstOrderOnly.apply, [x64([0.5, -1.5])])  # ...the second is not
    with pytest.raises(AssertionError, match="gradgradcheck: the gradient for input 0 does not require grad"):
        gradgradcheck(CubeOnRawArrays.apply, [x64([0.5, -1.5])])


def test_gradcheck_with_several_inputs_and_outputs():
    def fn(x, y):
        return x * y, (x + y).exp()

    assert gradcheck(fn, [x64([0.1, 0.2]), x64([0.3, -0.4])])
    # an input without requires_grad is held fixed, not checked
    assert gradcheck(fn, [x64([0.1, 0.2]), mg.tensor([0.3, -0.4], dtype=mg.float64)])


def test_gradcheck_perturbs_non_contiguous_inputs_too():
    a = np.arange(6, dtype=np.float64).reshape(2, 3).T / 6  # a transposed view
    x = mg.tensor(a, requires_grad=True)
    assert not x.data.flags.c_contiguous
    assert gradcheck(lambda x: (x * x).sum(dim=0), [x])


def test_gradcheck_warns_about_float32():
    with pytest.warns(UserWarning, match="gradcheck: input 0 is float32; float64 is needed"):
        ok = gradcheck(lambda x: x * 2, [mg.tensor([1.0], requires_grad=True)], raise_exception=False)
    assert ok is False  # deservedly: float32 rounding (1e-7) over eps (1e-6) swamps the difference quotient


def test_gradcheck_needs_an_output_that_requires_grad():
    with pytest.raises(RuntimeError, match="gradcheck: an output does not require grad"):
        gradcheck(lambda x: x.detach() * 2, [x64([1.0])])


def test_numerical_jacobian_agrees_with_a_hand_derivative():
    """An independent anchor: d/dx sum(sin(x) * x) = cos(x) x + sin(x), no autograd involved."""
    a = np.array([0.3, -1.2, 2.5])
    xs = x64(a)
    y = (xs.sin() * xs).sum()
    y.backward()
    np.testing.assert_allclose(xs.grad.numpy(), np.cos(a) * a + np.sin(a), rtol=1e-12)
    assert xp_of(xs.data) is np
