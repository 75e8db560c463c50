"""Every program the random-program fuzz (program_fuzz.py) found minigrad getting wrong, as a plain
test against PyTorch: the same code in both libraries gives the same values and gradients, or is
refused by both."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="these compare with PyTorch: pip install 'torch==2.13.0'")

import minigrad as mg  # noqa: E402
from program_fuzz import MG, TORCH  # noqa: E402


def same_in_both(fn, *arrays, requires_grad=True):
    """fn(lib, *leaves) in minigrad and PyTorch: equal values, and equal gradients of their sum."""
    results = []
    for lib in (MG, TORCH):
        leaves = [lib.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays]
        out = fn(lib, *leaves)
        outs = out if isinstance(out, tuple) else (out,)
        if requires_grad:
            sum(o.sum() for o in outs).backward()
        results.append(([o.detach().numpy() for o in outs], [None if x.grad is None else x.grad.numpy() for x in leaves]))
    (v1, g1), (v2, g2) = results
    for a, b in zip(v1 + g1, v2 + g2):
        if a is None or b is None:
            assert a is None and b is None
            continue
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def refused_by_both(fn, match, *arrays, requires_grad=True):
    """fn(lib, *leaves) raises in PyTorch, and in minigrad with a clear RuntimeError."""
    with pytest.raises(RuntimeError):
        fn(TORCH, *[TORCH.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays])
    with pytest.raises((RuntimeError, IndexError, ValueError, TypeError), match=match):
        fn(MG, *[MG.tensor(np.array(a, dtype=np.float64), requires_grad=requires_grad) for a in arrays])


def backward(lib, *ts):
    sum(t.sum() for t in ts).backward()


# -- writes through views ---------------------------------------------------------------------
def test_setitem_into_one_element_of_an_expanded_view_writes_that_element():
    """v1.expand(2)[0] = 0.75 left v1 unchanged: the whole view was written back, and its second
    element (the same memory as the first) restored the old value."""
    def fn(lib, x):
        h = x.abs()
        e = h.expand(2)
        e[0] = 0.75
        return h, e
    same_in_both(fn, 0.5478)


def test_setitem_where_the_indexed_part_repeats_memory_is_refused():
    def fn(lib, x):
        e = x.abs().expand(2)
        e[None] = 0.75
    refused_by_both(fn, "more than one element of the written-to tensor refers to a single memory", 0.5)


def test_an_empty_slice_of_a_view_of_a_leaf_is_still_a_view_of_it():
    def fn(lib, x):
        e = x.expand(2)
        e[2:] = 0.75
    refused_by_both(fn, "a view of a leaf tensor that requires grad", 0.5)


def test_an_inplace_op_that_reads_memory_it_partly_writes_is_refused():
    for write in (lambda h: h[1:].add_(h[:-1]), lambda h: h.add_(h[0]), lambda h: h[:2].copy_(h[1:]),
                  lambda h: h.__setitem__(slice(0, 2), h[1:])):
        refused_by_both(lambda lib, x: write(x * 1.0), "some elements of the input tensor and the written-to tensor",
                        [1.0, 2.0, 3.0])
    same_in_both(lambda lib, x: (lambda h: (h.mul_(h), h)[1])(x * 1.0), [1.0, 2.0, 3.0], requires_grad=False)


def test_a_piece_of_split_chunk_or_unbind_cannot_be_changed_in_place_in_the_graph():
    for cut in (lambda h: h.split(2)[0], lambda h: h.chunk(2)[1], lambda h: h.unbind(0)[0], lambda h: h.split(2)[0][:1]):
        refused_by_both(lambda lib, x: cut(x * 1.0).add_(1.0), "one of the outputs of split, chunk or unbind",
                        [1.0, 2.0, 3.0, 4.0])


def test_repeat_always_copies():
    """repeat(()) of a 0-d tensor was the tensor itself: changing the result changed the input."""
    def fn(lib, x):
        r = x.detach().repeat(())
        r.add_(1.0)
        return x * 1
    same_in_both(fn, 0.5)


# -- what PyTorch saves for backward -----------------------------------------------------------
@pytest.mark.parametrize("op", ["abs", "clamp", "maximum", "amax", "max", "logsumexp", "var", "std", "gather",
                                "rsqrt", "pow_tensor"])
def test_changing_what_pytorch_saves_for_backward_is_refused_as_there(op):
    """minigrad kept masks (abs, clamp, maximum, amax) or recomputed values where PyTorch keeps the
    input or the result; a change in place after the op went unnoticed, where PyTorch refuses."""
    forward = {
        "abs": lambda lib, x: (x.abs(), x), "clamp": lambda lib, x: (x.clamp(-0.5, 0.5), x),
        "maximum": lambda lib, x: (x.maximum(lib.tensor(np.zeros(3))), x), "amax": lambda lib, x: (x.amax(0), x),
        "max": lambda lib, x: (lambda y: (y, y))(x.max()), "logsumexp": lambda lib, x: (lambda y: (y, y))(x.logsumexp(0)),
        "var": lambda lib, x: (x.var(0), x), "std": lambda lib, x: (lambda y: (y, y))(x.std(0)),
        "gather": lambda lib, x: (x.gather(0, lib.tensor(np.array([0, 2]))), x),
        "rsqrt": lambda lib, x: (lambda y: (y, y))(x.abs().rsqrt()),
        "pow_tensor": lambda lib, x: (lambda y: (y, y))((x.abs() + 0.5) ** lib.tensor(np.array(2))),
    }[op]

    def fn(lib, x):
        y, changed = forward(lib, x)
        changed.detach().add_(1.0)
        backward(lib, y)
    refused_by_both(fn, "modified by an in-place operation", [0.3, -0.7, 1.2])


def test_max_along_a_dim_keeps_only_the_index_so_a_change_after_it_is_fine():
    def fn(lib, x):
        y = x.max(0).values
        x.detach().mul_(3.0)  # PyTorch keeps the index only: no error
        return y
    same_in_both(fn, [0.3, -0.7, 1.2])
    same_in_both(lambda lib, x: (lambda y: (x.detach().mul_(2.0), y)[1])(x.max(0).values), 0.4)  # 0-d too


def test_div_does_not_keep_its_output():
    def fn(lib, x, w):
        y = x / w
        y.detach().mul_(3.0)  # PyTorch's dz/dy = -x / y**2 needs x and y, not z
        return y
    same_in_both(fn, [1.0, 2.0], [4.0, -2.0])


# -- shapes ---------------------------------------------------------------------------------------
def test_mt_of_a_0d_tensor_is_the_tensor_and_of_a_1d_tensor_an_error():
    same_in_both(lambda lib, x: x.mT * 2, 0.5)
    refused_by_both(lambda lib, x: x.mT, "mT", [1.0, 2.0])


def test_flatten_refuses_a_start_after_the_end():
    refused_by_both(lambda lib, x: x.flatten(1, 0), "start_dim", [[1.0]])


def test_empty_tensors_split_softmax_and_reduce_as_in_pytorch():
    def fn(lib, x):
        e = x[x > 5]  # nothing selected: shape (0,)
        parts = e.split(1, 0) + e.chunk(2, 0)
        return (e.softmax(0), e.log_softmax(0), (x + e.reshape(0, 1)).max(1).values, e.logsumexp(0)) + parts
    same_in_both(fn, [1.0, 2.0])


def test_an_operand_that_does_not_broadcast_into_the_target_is_a_clear_error():
    refused_by_both(lambda lib, x: x.detach().add_(lib.tensor(np.array([1.0, 2.0]))), "does not broadcast",
                    [1.0, 2.0, 3.0])


def test_copy_of_an_integer_tensor_into_a_float32_tensor_in_the_graph():
    """numpy computed the write in float64 and handed a float32 leaf a float64 gradient."""
    for lib in (MG, TORCH):
        x = lib.tensor(np.array([0.5, -1.0], dtype=np.float32), requires_grad=True)
        h = x.abs()
        h.copy_(lib.tensor(np.array(-2)))
        (h * 3 + x).sum().backward()
        assert str(x.grad.dtype).endswith("float32") and x.grad.tolist() == [1.0, 1.0] and h.tolist() == [-2.0, -2.0]


def test_an_input_cast_for_type_promotion_is_still_watched_for_inplace_changes():
    """x32.maximum(y64) saved the float64 copy of x, so changing x in place afterwards went unnoticed."""
    def fn(lib, x):
        h = x.float().abs()
        y = h.maximum(lib.tensor(np.asarray(-0.9)))  # two 0-d tensors, float32 and float64: h is cast
        h.detach().add_(2.0)
        backward(lib, y)
    refused_by_both(fn, "modified by an in-place operation", 0.5)


def test_the_same_elements_read_through_another_view_are_no_partial_overlap():
    """x[None, 0] is x itself for a (1, 2) x; a stride of a size-1 dim made them look different."""
    def fn(lib, x):
        h = x.abs()
        h[None, 0].add_(h)
        return h
    same_in_both(fn, [[0.5, -0.9]], requires_grad=False)
