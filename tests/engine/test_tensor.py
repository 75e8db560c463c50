"""Tensor: attributes, factories, seeding, dtype rules (float32 stays float32 through every op
and its backward), and results that carry no gradient."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import fused


# -- what a tensor is ------------------------------------------------------------------------
def test_attributes_and_conversions():
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32 and x.device == "cpu"
    assert x.is_leaf and x.grad is None and x.grad_fn is None and x.requires_grad
    assert x.numel() == 6 and x.size() == (2, 3) and x.size(1) == 3 and len(x) == 2
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert isinstance(x.numpy(), np.ndarray)
    assert x[1, 2].item() == 6.0 and float(x[0, 0]) == 1.0
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert [row.tolist() for row in x] == x.tolist()
    assert mg.tensor([1.0], name="w").name == "w"  # a label for graphs


def test_repr_is_helpful():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(mg.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mg.tensor([1.0], dtype=mg.float64)) == "tensor([1.], dtype=float64)"


def test_python_data_gets_pytorch_default_dtypes():
    assert mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor([True, False]).dtype == np.bool_
    assert mg.tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype, as torch.from_numpy
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == np.float64


def test_factories():
    assert mg.zeros(2, 3).tolist() == [[0.0] * 3] * 2 and mg.zeros((2, 3)).shape == (2, 3)
    assert mg.ones(2, dtype=mg.float64).dtype == np.float64
    assert mg.full((2,), 7).dtype == np.int64 and mg.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert mg.arange(5).tolist() == [0, 1, 2, 3, 4] and mg.arange(5).dtype == np.int64
    assert mg.arange(0, 1, 0.25).dtype == np.float32 and mg.arange(0, 1, 0.25).tolist() == [0, 0.25, 0.5, 0.75]
    np.testing.assert_array_equal(mg.eye(3).numpy(), np.eye(3))
    assert mg.randn(3, 4).shape == (3, 4) and mg.randn(3, 4).dtype == np.float32
    r = mg.rand(1000)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    i = mg.randint(0, 5, (100,))
    assert i.dtype == np.int64 and 0 <= i.numpy().min() and i.numpy().max() < 5
    base = mg.zeros(2, 3, dtype=mg.float64)
    for like in (mg.zeros_like, mg.ones_like, mg.randn_like, mg.rand_like):
        t = like(base)
        assert t.shape == (2, 3) and t.dtype == np.float64
    assert mg.full_like(base, 2.0).tolist() == [[2.0] * 3] * 2
    p = mg.zeros(3, requires_grad=True)
    assert p.requires_grad and p.is_leaf


def test_manual_seed_makes_draws_repeat():
    mg.manual_seed(123)
    a = (mg.randn(5).numpy(), mg.rand(3).numpy(), mg.randint(0, 100, (4,)).numpy())
    mg.manual_seed(123)
    b = (mg.randn(5).numpy(), mg.rand(3).numpy(), mg.randint(0, 100, (4,)).numpy())
    mg.manual_seed(124)
    c = mg.randn(5).numpy()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c)


def test_detach_shares_data_and_version_counter():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    d.add_(1.0)  # changes y too, as in PyTorch, and y's version shows it
    assert y.tolist() == [4.0, 7.0]
    assert y._version[0] == 1


def test_clone_copies_and_keeps_the_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.data, x.data) and c.requires_grad
    (c * c).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_to_and_type_conversions():
    x = mg.tensor([1.5, -2.5], requires_grad=True)
    assert x.to(mg.float64).dtype == np.float64 and x.double().requires_grad
    assert x.to("cpu") is x
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    assert x.long().tolist() == [1, -2]
    assert x.bool().tolist() == [True, True]
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to("tpu")


# -- integers, comparisons, argmax: no gradient -----------------------------------------------
def test_integer_tensors_never_require_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert not x.long().requires_grad
    assert not (x.long() * 2).requires_grad and (x.long() * 2).dtype == np.int64
    assert not mg.randint(0, 3, (2,)).requires_grad


def test_int_tensor_with_a_float_number_promotes_to_float32():
    i = mg.tensor([1, 2])
    assert (i * 1.5).dtype == np.float32 and (i * 1.5).tolist() == [1.5, 3.0]
    assert (i / 2).dtype == np.float32 and (i / 2).tolist() == [0.5, 1.0]
    assert (i + 1).dtype == np.int64


@pytest.mark.parametrize("make", [
    lambda x: x > 0, lambda x: x == x, lambda x: x <= 0.5, lambda x: x != 1, lambda x: ~(x > 0),
    lambda x: (x > 0) & (x < 1), lambda x: x.argmax(), lambda x: x.argmin(dim=0), lambda x: x.max(dim=0).indices,
    lambda x: x.sign(), lambda x: x.isnan(), lambda x: x.isfinite(), lambda x: x.any(),
], ids=["gt", "eq", "le", "ne", "invert", "and", "argmax", "argmin", "max_indices", "sign", "isnan",
        "isfinite", "any"])
def test_non_differentiable_results_carry_no_gradient(make):
    x = mg.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    y = make(x)
    assert not y.requires_grad and y.grad_fn is None and isinstance(y.data, np.ndarray)


def test_zero_dim_comparisons_are_arrays_and_work_as_masks():
    x = mg.tensor(1.5, requires_grad=True)
    y = mg.where(x > 1, x * 2, x)
    y.backward()
    assert x.grad.item() == 2.0


# -- float32 stays float32 ----------------------------------------------------------------------
def _f32(shape, requires_grad=True, lo=0.5, hi=1.5, seed=0):
    a = np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)
    return mg.tensor(a, requires_grad=requires_grad)


FLOAT32_OPS = {
    "add_scalar": lambda x, y: x + 1.5 + 2, "radd": lambda x, y: 0.1 + x, "sub": lambda x, y: x - y,
    "rsub_scalar": lambda x, y: 1.0 - x, "mul_scalar": lambda x, y: x * 0.5 * 3, "rmul": lambda x, y: 0.3 * x,
    "div": lambda x, y: x / y, "div_scalar": lambda x, y: x / 3.0, "rdiv": lambda x, y: 2.0 / x,
    "pow_scalar": lambda x, y: x**2.5 + x**2, "pow_tensor": lambda x, y: x**y, "rpow": lambda x, y: 2.0**x,
    "numpy_scalar": lambda x, y: x * np.float64(2.0) + np.float64(1.0), "neg": lambda x, y: -x,
    "exp": lambda x, y: x.exp(), "log": lambda x, y: x.log(), "sqrt": lambda x, y: x.sqrt(),
    "rsqrt": lambda x, y: x.rsqrt(), "abs": lambda x, y: x.abs(), "sin": lambda x, y: x.sin(),
    "cos": lambda x, y: x.cos(), "tanh": lambda x, y: x.tanh(), "sigmoid": lambda x, y: x.sigmoid(),
    "relu": lambda x, y: (x - 1).relu(), "erf": lambda x, y: x.erf(), "gelu": lambda x, y: x.gelu(),
    "gelu_tanh": lambda x, y: x.gelu("tanh"), "clamp": lambda x, y: x.clamp(0.7, 1.2),
    "maximum": lambda x, y: x.maximum(y), "maximum_scalar": lambda x, y: x.maximum(1.0),
    "minimum": lambda x, y: x.minimum(0.9), "where": lambda x, y: mg.where(x > 1, x, 0.0),
    "where_both": lambda x, y: mg.where(x > 1, 2.0, y), "masked_fill": lambda x, y: x.masked_fill(x > 1, 0.5),
    "sum": lambda x, y: x.sum(dim=0), "mean": lambda x, y: x.mean(dim=1, keepdim=True),
    "amax": lambda x, y: x.amax(dim=1), "max_dim": lambda x, y: x.max(dim=0).values, "min": lambda x, y: x.min(),
    "var": lambda x, y: x.var(dim=1), "std": lambda x, y: x.std(), "logsumexp": lambda x, y: x.logsumexp(dim=1),
    "softmax": lambda x, y: x.softmax(-1), "log_softmax": lambda x, y: x.log_softmax(0),
    "reshape": lambda x, y: x.reshape(-1), "permute": lambda x, y: x.permute(1, 0), "expand": lambda x, y: x[:1].expand(3, 4),
    "cat": lambda x, y: mg.cat([x, y], 1), "stack": lambda x, y: mg.stack([x, y]), "pad": lambda x, y: x.pad((1, 2), 0.5),
    "tril": lambda x, y: x.tril(), "getitem": lambda x, y: x[[0, 0], 1:], "gather": lambda x, y: x.gather(1, mg.tensor([[0, 0], [1, 1], [3, 2]])),
    "index_select": lambda x, y: x.index_select(0, mg.tensor([2, 2])), "split": lambda x, y: x.split(1, dim=1)[2],
    "matmul": lambda x, y: x @ y.T, "matmul_vec": lambda x, y: x @ y[0],
    "cross_entropy": lambda x, y: fused.CrossEntropy.apply(x, mg.tensor([0, 3, 1]), None, label_smoothing=0.1),
    "cross_entropy_weighted": lambda x, y: fused.CrossEntropy.apply(x, mg.tensor([0, 3, 1]), mg.tensor([1.0, 2.0, 0.5, 1.0])),
    "cross_entropy_probs": lambda x, y: fused.CrossEntropy.apply(x, y.softmax(-1), None),
    "layer_norm": lambda x, y: fused.LayerNorm.apply(x, (4,), y[0], y[1], eps=1e-5),
    "embedding": lambda x, y: fused.Embedding.apply(x, np.array([[0, 2], [2, 1]])),
    "linear": lambda x, y: fused.Linear.apply(x, y, y[0, :3]),
    "setitem": lambda x, y: _setitem(x, y),
}


def _setitem(x, y):
    z = x * 1.0
    z[0] = y[1] * 2.0
    return z


@pytest.mark.parametrize("name", sorted(FLOAT32_OPS))
def test_float32_stays_float32_through_forward_and_backward(name):
    x, y = _f32((3, 4)), _f32((3, 4), seed=1)
    out = FLOAT32_OPS[name](x, y)
    assert out.dtype == np.float32, f"{name} forward promoted to {out.dtype}"
    # a backward that promoted would fail loudly: the engine checks each leaf gradient's dtype
    (out * out).sum().backward()
    for t in (x, y):
        assert t.grad is None or t.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["mul_scalar", "tanh", "softmax", "cross_entropy", "layer_norm", "matmul", "var"])
def test_float32_second_derivatives_stay_float32(name):
    x, y = _f32((3, 4)), _f32((3, 4), seed=1)
    out = FLOAT32_OPS[name](x, y)
    (gx,) = mg.autograd.grad((out * out).sum(), [x], create_graph=True)
    assert gx.dtype == np.float32
    (gx * gx).sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_is_kept_when_asked():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = (x * 0.5 + 1).tanh().softmax(0)
    assert y.dtype == np.float64
    y[0].backward()
    assert x.grad.dtype == np.float64


def test_tensor_copies_its_input_like_torch_tensor_and_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    copies = [mg.tensor(a), mg.tensor(a, device="cpu"), mg.Tensor(a)]
    shared = mg.from_numpy(a)
    a[0] = 5
    assert all(t.numpy()[0] == 0 for t in copies)
    assert shared.numpy()[0] == 5
