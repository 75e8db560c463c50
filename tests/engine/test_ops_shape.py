"""Shape and indexing ops: values against numpy, gradients against finite differences,
second derivatives (the backward of a lookup is a scatter-add, whose backward is a lookup)."""
import numpy as np
import pytest
from engine_helpers import arrays, leaf, shapes
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck


def check(fn, a, ref, second=True):
    """fn(x) equals ref (a numpy array); first (and second) derivatives match finite differences."""
    x = leaf(a)
    y = fn(x)
    np.testing.assert_array_equal(y.numpy(), ref)
    assert gradcheck(fn, [x])
    if second:
        # squared, so that the second derivative involves x as well as the incoming gradient
        assert gradgradcheck(lambda x: fn(x) * fn(x), [x])


def _permutation(draw, n):
    return tuple(draw(st.permutations(list(range(n)))))


@settings(max_examples=15)
@given(data=st.data())
def test_reshape_view_flatten_unflatten(data):
    shape = data.draw(shapes())
    a = data.draw(arrays(shape))
    n = a.size
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = data.draw(st.sampled_from(divisors))
    check(lambda x: x.reshape(d, -1), a, a.reshape(d, -1))
    check(lambda x: x.view(n), a, a.reshape(n), second=False)
    check(lambda x: x.flatten(), a, a.reshape(-1), second=False)
    if a.ndim >= 2:
        check(lambda x: x.flatten(1), a, a.reshape(a.shape[0], -1), second=False)
        check(lambda x: x.flatten(0, 1).unflatten(0, a.shape[:2]), a, a, second=False)


@settings(max_examples=15)
@given(data=st.data())
def test_permute_transpose_movedim(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape))
    perm = _permutation(data.draw, a.ndim)
    check(lambda x: x.permute(*perm), a, a.transpose(perm))
    check(lambda x: x.T, a, a.T, second=False)
    if a.ndim >= 2:
        i, j = data.draw(st.integers(-a.ndim, a.ndim - 1)), data.draw(st.integers(-a.ndim, a.ndim - 1))
        check(lambda x: x.transpose(i, j), a, np.swapaxes(a, i, j), second=False)
        check(lambda x: x.mT, a, np.swapaxes(a, -1, -2), second=False)
        check(lambda x: x.movedim(i, j), a, np.moveaxis(a, i, j), second=False)


@settings(max_examples=15)
@given(data=st.data())
def test_expand_repeat_squeeze_unsqueeze(data):
    shape = data.draw(shapes(max_side=3))
    a = data.draw(arrays(shape))
    target = tuple(data.draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    target = (data.draw(st.integers(1, 2)),) + target
    check(lambda x: x.expand(*target), a, np.broadcast_to(a, target))
    check(lambda x: x.expand_as(mg.zeros(target)), a, np.broadcast_to(a, target), second=False)
    reps = tuple(data.draw(st.integers(1, 2)) for _ in range(a.ndim + 1))
    check(lambda x: x.repeat(*reps), a, np.tile(a, reps))
    dim = data.draw(st.integers(-a.ndim - 1, a.ndim))
    check(lambda x: x.unsqueeze(dim), a, np.expand_dims(a, dim), second=False)
    check(lambda x: x.unsqueeze(dim).squeeze(dim), a, a, second=False)
    check(lambda x: x.squeeze(), a, np.squeeze(a), second=False)


@settings(max_examples=15)
@given(data=st.data())
def test_cat_stack_split_chunk_unbind(data):
    shape = data.draw(shapes(min_dims=1))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    other_shape = list(shape)
    other_shape[dim] = data.draw(st.integers(1, 3))
    a, b = data.draw(arrays(shape)), data.draw(arrays(tuple(other_shape)))
    x, y = leaf(a), leaf(b)
    np.testing.assert_array_equal(mg.cat([x, y], dim).numpy(), np.concatenate([a, b], dim))
    assert gradcheck(lambda x, y: mg.cat([x, y, x], dim), [x, y])
    assert gradgradcheck(lambda x, y: mg.cat([x * y.sum(), y], dim), [x, y])
    np.testing.assert_array_equal(mg.stack([x, x], dim).numpy(), np.stack([a, a], dim))
    assert gradcheck(lambda x: mg.stack([x, 2 * x], dim), [x])

    n = shape[dim]
    size = data.draw(st.integers(1, n))
    pieces = x.split(size, dim)
    ref = np.split(a, list(range(size, n, size)), axis=dim)
    assert len(pieces) == len(ref)
    for p, r in zip(pieces, ref):
        np.testing.assert_array_equal(p.numpy(), r)
    assert gradcheck(lambda x: x.split(size, dim)[-1] * 3, [x])
    chunks = data.draw(st.integers(1, n))
    assert sum(c.shape[dim] for c in x.chunk(chunks, dim)) == n
    assert gradcheck(lambda x: mg.cat([c * (i + 1) for i, c in enumerate(x.chunk(chunks, dim))], dim), [x])
    assert gradcheck(lambda x: mg.stack(x.unbind(dim)[::-1], dim), [x])


@settings(max_examples=15)
@given(data=st.data())
def test_pad_tril_triu(data):
    shape = data.draw(shapes(min_dims=2))
    a = data.draw(arrays(shape))
    pads = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * data.draw(st.integers(1, a.ndim))))
    widths = [(0, 0)] * a.ndim
    for i in range(len(pads) // 2):
        widths[a.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    check(lambda x: x.pad(pads, value=0.5), a, np.pad(a, widths, constant_values=0.5))
    k = data.draw(st.integers(-2, 2))
    check(lambda x: x.tril(k), a, np.tril(a, k))
    check(lambda x: x.triu(k), a, np.triu(a, k))


# -- indexing ------------------------------------------------------------------------------
@st.composite
def index_for(draw, shape):
    """An index mixing ints (also negative), slices (also negative steps), None, Ellipsis,
    integer arrays (with repeats) and boolean masks, valid for `shape`."""
    parts = []
    d = 0
    used_ellipsis = False
    while d < len(shape):
        n = shape[d]
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis", "array", "mask", "stop"]))
        if kind == "stop":
            break
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.none() | st.integers(-n, n))
            stop = draw(st.none() | st.integers(-n, n))
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            parts.append(slice(start, stop, step))
        elif kind == "none":
            parts.append(None)
            continue
        elif kind == "ellipsis":
            if used_ellipsis:
                continue
            used_ellipsis = True
            parts.append(Ellipsis)
            d = len(shape) - draw(st.integers(0, len(shape) - d))
            continue
        elif kind == "array":
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))))
        else:
            parts.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        d += 1
    return tuple(parts)


@settings(max_examples=25)
@given(data=st.data())
def test_getitem_matches_numpy_and_repeated_reads_accumulate(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape))
    index = data.draw(index_for(shape))
    try:
        ref = a[index]
    except IndexError:  # e.g. two integer arrays whose lengths do not broadcast
        with pytest.raises(IndexError, match="getitem"):
            leaf(a)[index]
        return
    check(lambda x: x[index], a, ref, second=ref.size <= 16)
    # the gradient of sum(x[index]) counts how often each element is read
    counts = np.zeros(a.size)
    np.add.at(counts, np.arange(a.size).reshape(a.shape)[index].reshape(-1), 1)
    x = leaf(a)
    x[index].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), counts.reshape(a.shape))


def test_getitem_with_tensor_indices_and_lists():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    y = x[mg.tensor([2, 0, 2])] * mg.tensor([[1.0], [10.0], [100.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10, 10], [0, 0], [101, 101]])
    x.grad = None
    x[x > 2.5].sum().backward()  # a boolean tensor mask
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [1, 1], [1, 1]])
    x.grad = None
    x[[0, 0], [1, 1]].sum().backward()  # lists are integer arrays
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2], [0, 0], [0, 0]])


@settings(max_examples=20)
@given(data=st.data())
def test_differentiable_setitem_into_a_non_leaf(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape))
    n = shape[0]
    rows = sorted(set(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))))
    index = data.draw(st.sampled_from([np.array(rows), slice(rows[0], rows[-1] + 1)]))
    v_shape = a[index].shape[1:]  # broadcast along the indexed rows
    b = data.draw(arrays(v_shape))

    def fn(x, v):
        y = x * 2  # a non-leaf: setting into it is recorded in the graph
        y[index] = v * 3
        return y * y

    x, v = leaf(a), leaf(b)
    expected = a * 2
    expected[index] = b * 3
    np.testing.assert_allclose(fn(x, v).numpy(), expected**2)
    assert gradcheck(fn, [x, v])
    assert gradgradcheck(fn, [x, v])


@settings(max_examples=20)
@given(data=st.data())
def test_gather_and_take_along_dim(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx_shape = tuple(data.draw(st.integers(1, s)) if i != dim % len(shape) else data.draw(st.integers(1, 4))
                      for i, s in enumerate(shape))
    index = np.array(data.draw(arrays(idx_shape, "smooth", 0, shape[dim] - 0.01)), dtype=np.int64)
    sub = a[tuple(slice(0, n) if i != dim % a.ndim else slice(None) for i, n in enumerate(idx_shape))]
    ref = np.take_along_axis(sub, index, axis=dim)
    check(lambda x: x.gather(dim, mg.tensor(index)), a, ref)
    check(lambda x: x.take_along_dim(mg.tensor(index), dim), a, ref, second=False)


@settings(max_examples=20)
@given(data=st.data())
def test_index_select_with_repeats(data):
    shape = data.draw(shapes(min_dims=1))
    a = data.draw(arrays(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index = np.array(data.draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=5)))
    check(lambda x: x.index_select(dim, mg.tensor(index)), a, np.take(a, index, axis=dim))


def test_gather_accumulates_repeated_positions():
    x = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    x.gather(1, mg.tensor([[2, 2, 0, 2]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 3]])


def test_shape_errors_name_the_op_and_the_shapes():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\).*into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand: cannot expand a tensor of shape \(2, 3\) to \(4, 3\)"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"cat: tensors must have the same shape except in dim 0; got shapes \(2, 3\), \(2, 4\)"):
        mg.cat([x, mg.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape"):
        mg.stack([x, mg.zeros(3, 2)])
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] do not add up to the size 3"):
        x.split([1, 1], dim=1)


def test_contiguous_copies_a_strided_view_and_passes_the_gradient_through():
    x = mg.randn(2, 3, 4, dtype=mg.float64, requires_grad=True)
    view = x.transpose(0, 2)
    assert not view.data.flags.c_contiguous
    c = view.contiguous()
    assert c.data.flags.c_contiguous and c.contiguous() is c
    np.testing.assert_array_equal(c.numpy(), x.numpy().transpose(2, 1, 0))
    assert mg.gradcheck(lambda t: (t.transpose(0, 2).contiguous() ** 2).sum(), (x,))
