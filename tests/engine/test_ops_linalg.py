"""matmul: every combination numpy allows (1-D operands, batches, broadcast batch dims)."""
import numpy as np
import pytest
from engine_helpers import arrays, broadcastable_shapes, leaf
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck


@st.composite
def matmul_shapes(draw, max_side=4):
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    bx, by = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    x_vec = draw(st.booleans())
    y_vec = draw(st.booleans())
    sx = (k,) if x_vec else bx + (n, k)
    sy = (k,) if y_vec else by + (k, m)
    return sx, sy


@settings(max_examples=25)
@given(data=st.data())
def test_matmul_value_and_gradient(data):
    sx, sy = data.draw(matmul_shapes())
    a, b = data.draw(arrays(sx)), data.draw(arrays(sy))
    x, y = leaf(a), leaf(b)
    z = x @ y
    np.testing.assert_allclose(z.numpy(), np.matmul(a, b), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, y: x @ y, [x, y])
    z.sum().backward()
    assert x.grad.shape == sx and y.grad.shape == sy


@settings(max_examples=10)
@given(data=st.data())
def test_matmul_second_derivative(data):
    sx, sy = data.draw(matmul_shapes(max_side=2))
    x, y = leaf(data.draw(arrays(sx))), leaf(data.draw(arrays(sy)))
    assert gradgradcheck(lambda x, y: (x @ y) * (x @ y), [x, y])


def test_matmul_with_a_shared_weight_sums_the_batch_into_its_gradient():
    x = mg.ones(5, 3, 2)
    w = mg.tensor([[1.0], [2.0]], requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[15.0], [15.0]])


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not fit"):
        mg.zeros(2, 3) @ mg.zeros(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4,\) do not fit"):
        mg.zeros(2, 3) @ mg.zeros(4)
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 1 dim"):
        mg.zeros(2, 3) @ mg.tensor(2.0)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 2, 3\) and \(3, 3, 1\) cannot be broadcast"):
        mg.zeros(2, 2, 3) @ mg.zeros(3, 3, 1)
