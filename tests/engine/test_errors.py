"""Bad input gets a clear error that names the op, the shapes/dtypes/values, and the fix;
never a wrong answer. Where a domain is documented (log of a negative number) the result is
NaN, as in numpy and PyTorch, and nothing crashes."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd, backend
from minigrad.ops import fused


# -- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"), (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"), (lambda a, b: a ** b, "pow"), (lambda a, b: a.maximum(b), "maximum"),
    (lambda a, b: a.minimum(b), "minimum"), (lambda a, b: mg.where(a > 0, a, b), "where"),
])
def test_broadcasting_mismatch_names_the_op_and_both_shapes(op, name):
    a, b = mg.ones(2, 3, requires_grad=True), mg.ones(4)
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(2, 3\) .*and \(4,\) cannot be broadcast together"):
        op(a, b)


def test_matmul_and_linear_shape_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not fit: the last dim of the first \(3\)"):
        mg.ones(2, 3) @ mg.ones(4, 5)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) has 3 features but the weight of shape \(4, 5\) expects 5"):
        fused.Linear.apply(mg.ones(2, 3), mg.ones(4, 5), None)


def test_layer_norm_shape_mismatch():
    with pytest.raises(ValueError, match=r"layer_norm: input of shape \(2, 3\) does not end in normalized_shape \(4,\)"):
        fused.LayerNorm.apply(mg.ones(2, 3), (4,), None, None)


def test_cross_entropy_bad_targets():
    x = mg.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"cross_entropy: logits of shape \(2, 3\) .* need a target of shape \(2,\), got \(3,\)"):
        fused.CrossEntropy.apply(x, mg.tensor([0, 1, 2]), None)
    with pytest.raises(TypeError, match=r"cross_entropy: target must hold integer class indices .* got dtype bool"):
        fused.CrossEntropy.apply(x, mg.tensor([True, False]), None)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fused.CrossEntropy.apply(x, mg.tensor([0, 1]), None, reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        fused.CrossEntropy.apply(x, mg.tensor([0, 1]), None, label_smoothing=1.5)


# -- indices -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_and_negative_indices_are_errors_not_wraparound(bad):
    table = mg.zeros(3, 2, requires_grad=True)
    with pytest.raises(IndexError, match=rf"embedding: index {bad} is out of range for a table of 3 rows \(valid: 0 to 2\)"):
        fused.Embedding.apply(table, np.array([0, bad]))
    with pytest.raises(IndexError, match=rf"gather: index {bad} is out of range for dim 1 of the input of size 2"):
        table.gather(1, mg.tensor([[0], [bad]]))
    with pytest.raises(IndexError, match=rf"index_select: index {bad} is out of range for dim 0 of the input of size 3"):
        table.index_select(0, mg.tensor([bad]))
    with pytest.raises(IndexError, match=rf"cross_entropy: target {bad} is out of range for 2 classes \(valid: 0 to 1"):
        fused.CrossEntropy.apply(table, mg.tensor([0, 1, bad]), None)


def test_cross_entropy_ignore_index_may_be_negative():
    loss = fused.CrossEntropy.apply(mg.zeros(2, 3), mg.tensor([-100, 1]), None)
    assert loss.item() == pytest.approx(np.log(3))


def test_float_indices_are_refused():
    with pytest.raises(TypeError, match=r"embedding: indices must be integers, got dtype float32"):
        fused.Embedding.apply(mg.zeros(3, 2), np.array([0.0, 1.0], dtype=np.float32))
    with pytest.raises(TypeError, match=r"gather: index must hold integers, got dtype float32; use .long\(\)"):
        mg.zeros(3, 2).gather(1, mg.tensor([[0.0], [1.0], [0.0]]))


def test_dims_out_of_range():
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range for a tensor with 2 dims \(expected a value in \[-2, 1\]\)"):
        mg.zeros(2, 3).softmax(2)


# -- dtypes ------------------------------------------------------------------------------------
def test_requires_grad_on_an_integer_tensor():
    with pytest.raises(RuntimeError, match=r"only floating point tensors can require gradients; this one has dtype int64"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"dtype int64"):
        mg.arange(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"dtype bool"):
        mg.tensor([True]).requires_grad_()


# -- devices -----------------------------------------------------------------------------------
class _FakeCudaArray:
    """Stands in for a cupy array on a machine without a GPU: only what the device check reads."""

    def __init__(self, a):
        self.a = np.asarray(a)
        self.shape, self.dtype, self.ndim, self.size = self.a.shape, self.a.dtype, self.a.ndim, self.a.size


class _FakeCupy:
    ndarray = _FakeCudaArray


def test_mixing_devices_in_one_op_is_an_error(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", _FakeCupy)
    monkeypatch.setattr(backend, "_cupy_checked", True)
    on_gpu = mg.Tensor._make(_FakeCudaArray([1.0, 2.0]), False, None)
    on_cpu = mg.ones(2, requires_grad=True)
    assert on_gpu.device == "cuda" and on_cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, got cpu \(2,\), cuda \(2,\)\. "
                                           r"Move them with \.to\('cpu'\) or \.to\('cuda'\) first"):
        on_cpu + on_gpu


def test_asking_for_cuda_without_a_gpu_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", True)
    with pytest.raises(RuntimeError, match=r"device 'cuda' asked for, but cupy is not installed or sees no GPU: install the GPU extra"):
        mg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="cupy is not installed"):
        mg.ones(2).to("cuda")


# -- backward ----------------------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_gradient():
    y = mg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"backward: grad can be implicitly created only for scalar outputs, but output 0 "
                                           r"has shape \(2, 3\)\. Pass gradient=.*loss\.sum\(\)\.backward\(\)"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"backward: gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        y.backward(mg.ones(3))


def test_backward_of_something_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match=r"backward: output 0 does not require grad and has no grad_fn.*no_grad\(\)"):
        mg.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match=r"autograd.grad: input 0 does not require grad"):
        autograd.grad(mg.ones(1, requires_grad=True).sum(), [mg.ones(1)])


def test_second_backward_through_a_freed_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.tanh() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"trying to backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_backward_after_a_saved_tensor_was_modified_in_place_is_an_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = h * h  # saves h
    with mg.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Mul: one of the variables needed for gradient computation has been "
                                           r"modified by an in-place operation: \[float32 tensor of shape \(2,\)\], which is output 0 of "
                                           r"Mul, saved by Mul as its input 0, is at version 1; expected version 0"):
        y.sum().backward()


def test_modifying_a_saved_output_in_place_is_an_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # saves its output
    z = y + 1.0  # saves nothing itself
    with mg.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Exp: .* modified by an in-place operation: .*output 0 of Exp, "
                                           r"saved by Exp as its output, is at version 1; expected version 0"):
        z.sum().backward()


def test_a_recorded_inplace_op_keeps_the_old_value_it_differentiates_through():
    x = mg.tensor([1.0], requires_grad=True)
    w = mg.tensor([2.0], requires_grad=True)
    y = x * 1.0
    y.div_(w)  # recorded as old_y / w: dy/dw = -old_y / w**2 needs the old value, kept apart
    with mg.no_grad():
        y.mul_(3.0)  # changes y, not the old value: no error, as in PyTorch
    y.sum().backward()
    assert x.grad.tolist() == [0.5] and w.grad.tolist() == [-0.25]



# -- documented domains: NaN, not a crash ------------------------------------------------------
def test_log_sqrt_pow_of_negative_numbers_give_nan_without_crashing():
    x = mg.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    with np.errstate(all="ignore"):  # the caller can silence numpy's warnings as usual
        y = x.log() + x.sqrt() + x**0.5
        y.sum().backward()
    values, grads = y.numpy(), x.grad.numpy()
    assert np.isnan(values[0]) and values[1] == -np.inf and np.isfinite(values[2])
    assert np.isnan(grads[0]) and np.isfinite(grads[2])
