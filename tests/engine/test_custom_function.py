"""A user-written Function: forward on arrays, backward in Tensor ops, with PyTorch's names:
ctx.save_for_backward / ctx.saved_tensors for the inputs backward reads, ctx.needs_input_grad
telling backward which gradients are wanted."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.backend import xp_of


class ScaledProduct(Function):
    """z = a * b * c (c a number)    dz/da = b c,  dz/db = a c"""

    asked = None

    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        ctx.c = c
        return a * b * c

    def backward(ctx, gz):
        a, b = ctx.saved_tensors
        c = ctx.c
        ScaledProduct.asked = ctx.needs_input_grad
        return (gz * b * c if ctx.needs_input_grad[0] else None,
                gz * a * c if ctx.needs_input_grad[1] else None, None)


def test_needs_input_grad_says_which_inputs_take_a_gradient():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, -1.0])
    ScaledProduct.apply(a, b, 2.0).sum().backward()
    assert ScaledProduct.asked == (True, False, False)
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, -2.0])
    b.requires_grad_()
    a.grad = None
    ScaledProduct.apply(a, b, 2.0).sum().backward()
    assert ScaledProduct.asked == (True, True, False)
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 4.0])


def test_needs_input_grad_in_forward_is_a_clear_error():
    class Early(Function):
        def forward(ctx, x):
            ctx.needs_input_grad
            return x

    with pytest.raises(RuntimeError, match="Early: needs_input_grad is known once forward has returned"):
        Early.apply(mg.tensor([1.0], requires_grad=True))


class Softplus(Function):
    """y = log(1 + exp(x))    dy/dx = sigmoid(x)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).logaddexp(0, x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * x.sigmoid()


def test_a_function_with_a_tensor_backward_passes_gradcheck_and_gradgradcheck():
    x = mg.tensor([-3.0, 0.0, 2.0, 30.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(Softplus.apply, (x,))
    assert mg.gradgradcheck(Softplus.apply, (x,))


def test_saved_tensors_are_the_inputs_saved_in_argument_order_even_when_they_share_one_array():
    # x * x.detach(): forward gets one array twice; dz/dx = y must be the detached operand, so the
    # gradient is a constant (a first-match lookup would hand back x, and dz/dx would depend on x)
    x = mg.tensor([1.0, -2.0, 3.0], dtype=mg.float64, requires_grad=True)
    y = x.detach()
    assert y.data is x.data
    (gx,) = mg.autograd.grad((x * y).sum(), x, create_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [1.0, -2.0, 3.0])
    assert not gx.requires_grad


class SavesItsOutput(Function):
    def forward(ctx, x):
        y = x * 2
        ctx.save_for_backward(y)
        return y

    def backward(ctx, gy):
        return gy * 2


def test_saving_something_that_is_not_an_input_is_a_clear_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"SavesItsOutput: save_for_backward was given an array of shape \(2,\), "
                                           r"which is not one of forward's arguments.*ctx.save_output\(\)"):
        SavesItsOutput.apply(x)


def test_a_saved_input_changed_in_place_is_refused_by_saved_tensors():
    x = mg.tensor([0.5, -1.0], dtype=mg.float64, requires_grad=True)
    h = x * 1.0  # a non-leaf, so it may be changed in place
    y = Softplus.apply(h)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="Softplus: one of the variables needed for gradient computation has "
                                           "been modified by an in-place operation.*saved by Softplus as its input 0"):
        y.sum().backward()
