"""0-d tensors through every reduction and shape op, forward and backward, as in PyTorch: the
only dims of a 0-d tensor are 0 and -1, a reduction over them reduces nothing, keepdim keeps the
0 dims there are. Values worked by hand (d x / d x = 1)."""
import numpy as np
import pytest

import minigrad as mg


def scalar(v=2.0):
    return mg.tensor(v, dtype=mg.float64, requires_grad=True)


# -- issue 12, item 3 -----------------------------------------------------------------------
@pytest.mark.parametrize("op, value, grad", [
    (lambda x: x.sum(-1, keepdim=True), 2.0, 1.0),
    (lambda x: x.sum(0), 2.0, 1.0),
    (lambda x: x.mean(0), 2.0, 1.0),
    (lambda x: x.mean(-1, keepdim=True), 2.0, 1.0),
    (lambda x: x.amax(0), 2.0, 1.0),
    (lambda x: x.amin(-1, keepdim=True), 2.0, 1.0),
    (lambda x: x.max(0).values, 2.0, 1.0),
    (lambda x: x.min(-1, keepdim=True).values, 2.0, 1.0),
    (lambda x: x.logsumexp(0), 2.0, 1.0),
    (lambda x: x.var(-1, keepdim=True, correction=0), 0.0, 0.0),
    (lambda x: x.std(0, correction=0) + x, 2.0, 1.0),
    (lambda x: x.log_softmax(0), 0.0, 0.0),
    (lambda x: x.softmax(-1), 1.0, 0.0),
], ids=["sum-1", "sum0", "mean0", "mean-1", "amax", "amin", "max", "min", "logsumexp", "var", "std", "log_softmax",
        "softmax"])
def test_reductions_over_the_dims_of_a_0d_tensor(op, value, grad):
    x = scalar()
    y = op(x)
    assert y.shape == () and y.item() == value
    y.backward()
    assert x.grad.item() == grad


def test_var_with_bessels_correction_of_one_value_is_nan_as_in_pytorch():
    x = scalar()
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(x.var(-1, keepdim=True).item()) and np.isnan(x.var().item())


def test_argmax_and_max_indices_of_a_0d_tensor_are_zero():
    x = scalar()
    assert x.argmax(0).item() == 0 and x.argmin(-1, keepdim=True).shape == ()
    assert x.max(0).indices.item() == 0


@pytest.mark.parametrize("op, shape", [
    (lambda x: x.reshape(1, 1), (1, 1)), (lambda x: x.unsqueeze(0), (1,)), (lambda x: x.unsqueeze(-1), (1,)),
    (lambda x: x.squeeze(), ()), (lambda x: x.squeeze(0), ()), (lambda x: x.squeeze(-1), ()),
    (lambda x: x.flatten(), (1,)), (lambda x: x.transpose(0, -1), ()), (lambda x: x.permute(), ()),
    (lambda x: x.T, ()), (lambda x: x.expand(3), (3,)), (lambda x: x.repeat(2), (2,)),
    (lambda x: x[None], (1,)), (lambda x: x[...], ()), (lambda x: x.movedim(0, -1), ()),
    (lambda x: mg.stack([x, x]), (2,)), (lambda x: x.view(-1), (1,)),
], ids=["reshape", "unsqueeze0", "unsqueeze-1", "squeeze", "squeeze0", "squeeze-1", "flatten", "transpose",
        "permute", "T", "expand", "repeat", "none", "ellipsis", "movedim", "stack", "view"])
def test_shape_ops_on_a_0d_tensor(op, shape):
    x = scalar()
    y = op(x)
    assert y.shape == shape
    y.sum().backward()
    assert x.grad.item() == float(np.prod(shape))


@pytest.mark.parametrize("op, match", [
    (lambda x: mg.cat([x, x]), "zero-dimensional"), (lambda x: x.split(1), "0-d"), (lambda x: x.unbind(), "0-d"),
    (lambda x: x.tril(), "at least 2 dims"), (lambda x: x.sum(1), "out of range"), (lambda x: x.unsqueeze(2), "out of range"),
])
def test_what_pytorch_refuses_for_a_0d_tensor_is_a_clear_error(op, match):
    with pytest.raises((RuntimeError, IndexError, ValueError), match=match):
        op(scalar())
