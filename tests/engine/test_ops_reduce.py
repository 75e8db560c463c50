"""Reductions: sum, mean, max/min (amax/amin, max(dim)), var/std, logsumexp, over drawn dims."""
import numpy as np
import pytest
from engine_helpers import arrays, leaf, shapes
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck


@st.composite
def dims_for(draw, ndim):
    """None (all dims), one dim (possibly negative), or a tuple of distinct dims."""
    if ndim == 0:
        return None
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


@st.composite
def reduce_case(draw, kind="smooth", max_side=4, max_dims=3):
    shape = draw(shapes(max_dims=max_dims, max_side=max_side))
    a = draw(arrays(shape, kind))
    return a, draw(dims_for(len(shape))), draw(st.booleans())


def _np_axis(dim):
    return tuple(dim) if isinstance(dim, tuple) else dim


REDUCTIONS = {  # name -> (minigrad method name, numpy function, value kind)
    "sum": ("sum", np.sum, "smooth"),
    "mean": ("mean", np.mean, "smooth"),
    "amax": ("amax", np.max, "distinct"),
    "amin": ("amin", np.min, "distinct"),
    "logsumexp": ("logsumexp", lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)), "smooth"),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=20)
@given(data=st.data())
def test_reduction_value_and_gradient(name, data):
    method, ref, kind = REDUCTIONS[name]
    a, dim, keepdim = data.draw(reduce_case(kind))
    fn = lambda x: getattr(x, method)(dim=dim, keepdim=keepdim)  # noqa: E731
    x = leaf(a)
    y = fn(x)
    expected = ref(a, axis=_np_axis(dim), keepdims=keepdim)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(fn, [x])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=6)
@given(data=st.data())
def test_reduction_second_derivative(name, data):
    method, _, kind = REDUCTIONS[name]
    a, dim, keepdim = data.draw(reduce_case(kind, max_side=3, max_dims=2))
    assert gradgradcheck(lambda x: getattr(x, method)(dim=dim, keepdim=keepdim) ** 2, [leaf(a)])


@settings(max_examples=20)
@given(data=st.data())
def test_max_min_along_dim_return_values_and_indices(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape, "distinct"))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    x = leaf(a)
    for method, ref, argref in (("max", np.max, np.argmax), ("min", np.min, np.argmin)):
        values, indices = getattr(x, method)(dim, keepdim)
        np.testing.assert_array_equal(values.numpy(), ref(a, axis=dim, keepdims=keepdim))
        np.testing.assert_array_equal(indices.numpy(), argref(a, axis=dim, keepdims=keepdim))
        assert indices.dtype == np.int64 and not indices.requires_grad
        assert gradcheck(lambda x: getattr(x, method)(dim, keepdim).values, [x])
        assert gradgradcheck(lambda x: getattr(x, method)(dim, keepdim).values ** 2, [x])


def test_tie_rules_amax_splits_max_dim_picks_the_returned_index():
    """Documented in ops/reduce.py: a full reduction or amax/amin splits the gradient evenly
    among tied elements (as torch.amax); max(dim) gives it all to the index it returns."""
    a = [[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]]
    x = mg.tensor(a, requires_grad=True)
    x.amax(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]])

    x = mg.tensor(a, requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    np.testing.assert_array_equal(indices.numpy(), [0, 0])
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [1, 0, 0]])

    x = mg.tensor(a, requires_grad=True)
    x.max().backward()  # the whole tensor: 3.0 twice
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0, 0.5], [0, 0, 0]])

    x = mg.tensor(a, requires_grad=True)
    x.amin(dim=(0, 1)).backward()  # 1.0 once
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("method", ["var", "std"])
@settings(max_examples=20)
@given(data=st.data())
def test_var_std_with_correction(method, data):
    a, dim, keepdim = data.draw(reduce_case("distinct"))
    n = a.size if dim is None else int(np.prod([a.shape[d] for d in np.atleast_1d(dim)]))
    correction = data.draw(st.integers(0, 2))
    if n <= correction or (method == "std" and n < 2):
        return  # no estimate (PyTorch gives inf/nan), or std of one value: sqrt at 0 has no slope
    x = leaf(a)
    fn = lambda x: getattr(x, method)(dim=dim, keepdim=keepdim, correction=correction)  # noqa: E731
    ref = getattr(np, method)(a, axis=_np_axis(dim), keepdims=keepdim, ddof=correction)
    np.testing.assert_allclose(fn(x).numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(fn, [x])
    if a.size <= 9:
        assert gradgradcheck(fn, [x])


def test_var_default_is_unbiased_and_unbiased_false_divides_by_n():
    x = mg.tensor([1.0, 2.0, 3.0, 6.0])
    assert x.var().item() == pytest.approx(np.var([1, 2, 3, 6], ddof=1))
    assert x.var(unbiased=False).item() == pytest.approx(np.var([1, 2, 3, 6]))
    assert x.std(correction=0).item() == pytest.approx(np.std([1, 2, 3, 6]))


def test_logsumexp_is_stable_and_handles_minus_inf_rows():
    x = mg.tensor([[1e4, 1e4 - 1.0], [-1e4, -1e4]], requires_grad=True)
    y = x.logsumexp(dim=1)
    np.testing.assert_allclose(y.numpy(), [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(2.0)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1 / (1 + np.exp(-1)), 1 - 1 / (1 + np.exp(-1))], [0.5, 0.5]], rtol=1e-5)
    minus_inf = mg.tensor([[-np.inf, -np.inf], [0.0, -np.inf]]).logsumexp(dim=1)
    np.testing.assert_array_equal(minus_inf.numpy(), [-np.inf, 0.0])


def test_integer_sum_stays_integer_and_mean_of_integers_is_float32():
    i = mg.tensor([[1, 2], [3, 4]])
    assert i.sum().dtype == np.int64 and i.sum().item() == 10
    assert not i.sum().requires_grad
    assert i.mean().dtype == np.float32 and i.mean().item() == 2.5


def test_reducing_over_a_dim_out_of_range_names_the_op():
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for a tensor with 2 dims"):
        mg.zeros(2, 3).sum(dim=2)
    with pytest.raises(IndexError, match=r"logsumexp: dim -3"):
        mg.zeros(2, 3).logsumexp(dim=-3)
