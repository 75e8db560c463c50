"""A user-written Function: forward on arrays, backward in Tensor ops, ctx.needs_input_grad
(PyTorch's name) telling backward which gradients are wanted."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.backend import xp_of


class ScaledProduct(Function):
    """z = a * b * c (c a number)    dz/da = b c,  dz/db = a c"""

    asked = None

    def forward(ctx, a, b, c):
        ctx.save_inputs()
        return a * b * c

    def backward(ctx, gz):
        a, b, c = ctx.inputs
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
        ctx.save_inputs()
        return xp_of(x).logaddexp(0, x)

    def backward(ctx, gy):
        (x,) = ctx.inputs
        return gy * x.sigmoid()


def test_a_function_with_a_tensor_backward_passes_gradcheck_and_gradgradcheck():
    x = mg.tensor([-3.0, 0.0, 2.0, 30.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(Softplus.apply, (x,))
    assert mg.gradgradcheck(Softplus.apply, (x,))
