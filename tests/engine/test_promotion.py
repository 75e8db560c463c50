"""Type promotion as torch.result_type: integers meet floats as the float, float32 meets float64 as
float64, a 0-d tensor does not widen a tensor with dims of its own category, and a Python number
never widens a tensor of its category. Every leaf's gradient comes back in the leaf's dtype."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


# -- issue 12, item 4 -----------------------------------------------------------------------
def test_float32_times_float64_gives_each_leaf_a_gradient_of_its_own_dtype():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], dtype=mg.float64, requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and a.grad.tolist() == [3.0, 4.0]
    assert b.grad.dtype == np.float64 and b.grad.tolist() == [1.0, 2.0]


def test_a_float32_linear_on_float64_input_is_refused_as_pytorch_does():
    layer = nn.Linear(3, 2)
    x = mg.ones(4, 3, dtype=mg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"linear: .*float64.*float32.*same dtype"):
        layer(x)
    y = layer.double()(x)  # the fix the message names
    y.sum().backward()
    assert x.grad.dtype == np.float64 and layer.weight.grad.dtype == np.float64


def test_matmul_of_mixed_float_dtypes_is_refused_as_pytorch_does():
    with pytest.raises(RuntimeError, match=r"matmul: .*float32.*float64.*same dtype"):
        mg.ones(2, 3) @ mg.ones(3, 2, dtype=mg.float64)


@pytest.mark.parametrize("a, b, expected", [
    (mg.ones(2, dtype=mg.int64), mg.ones(2), np.float32),
    (mg.ones(2, dtype=mg.int64), mg.tensor(2.0, dtype=mg.float64), np.float64),
    (mg.ones(2), mg.tensor(2.0, dtype=mg.float64), np.float32),
    (mg.tensor(2.0), mg.tensor(2.0, dtype=mg.float64), np.float64),
    (mg.ones(2, dtype=mg.int32), mg.tensor(2, dtype=mg.int64), np.int32),
    (mg.ones(2, dtype=mg.int64), 1.5, np.float32),
    (mg.ones(2, dtype=mg.float64), 1.5, np.float64),
    (mg.ones(2), 2, np.float32),
    (mg.ones(2, dtype=mg.bool_), 1, np.int64),
    (mg.ones(2, dtype=mg.int32), 2, np.int32),
], ids=["int-f32", "int-0d_f64", "f32-0d_f64", "0d_f32-0d_f64", "int32-0d_int64", "int-pyfloat",
        "f64-pyfloat", "f32-pyint", "bool-pyint", "int32-pyint"])
def test_result_type_follows_pytorch(a, b, expected):
    assert mg.result_type(a, b) == expected
    for y in (a + b, b + a, a * b, a - b, mg.maximum(a, b) if isinstance(b, mg.Tensor) else a * 1 + b):
        assert y.dtype == expected


def test_gradients_through_mixed_ops_come_back_in_each_leafs_dtype():
    a = mg.tensor([[1.0, 2.0]], requires_grad=True)
    b = mg.tensor([[3.0], [4.0]], dtype=mg.float64, requires_grad=True)
    s = mg.tensor(0.5, dtype=mg.float64, requires_grad=True)
    y = mg.where(a > 1, a, b) * s + mg.cat([a.double(), b.T]).sum(0) / a + a**s
    assert y.dtype == np.float64
    y.sum().backward()
    assert (a.grad.dtype, b.grad.dtype, s.grad.dtype) == (np.float32, np.float64, np.float64)


def test_inplace_keeps_the_tensors_dtype_or_refuses_a_cast_pytorch_refuses():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    h.add_(mg.tensor([0.5, 0.5], dtype=mg.float64, requires_grad=True))
    assert h.dtype == np.float32
    h.sum().backward()
    assert x.grad.dtype == np.float32
    i = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match=r"result type float32 can't be cast to the desired output type int64"):
        i.add_(1.5)
    with pytest.raises(RuntimeError, match=r"can't be cast"):
        i.div_(2)
