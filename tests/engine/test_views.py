"""Views and in-place ops: a view shares its base's memory and version counter, an in-place op
through any alias writes the base and is recorded by autograd (the base is rebased onto a
CopySlices node, as in PyTorch), and backward through a saved tensor that changed since, through
any alias, is an error. Expected values are worked by hand."""
import numpy as np
import pytest

import minigrad as mg

MODIFIED = r"modified by an in-place operation"

VIEWS = {  # a view of a (4,) tensor, and the positions of the base each element reads
    "reshape": lambda b: b.reshape(2, 2),
    "transpose": lambda b: b.reshape(2, 2).transpose(0, 1),
    "permute": lambda b: b.reshape(2, 2).permute(1, 0),
    "slice": lambda b: b[1:3],
    "index": lambda b: b[2],
    "expand": lambda b: b.expand(3, 4),
    "chain": lambda b: b.reshape(2, 2).T[1][None, :].squeeze(0),
    "detach": lambda b: b.detach(),
    "view": lambda b: b.view(4, 1),
    "unsqueeze": lambda b: b.unsqueeze(0),
    "none": lambda b: b[None],  # the fuzz found x[None] was not taken for a view
    "flatten": lambda b: b.reshape(2, 2).flatten(),
}


# -- issue 12, item 1: a base changed in place after its view was saved -----------------------
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_backward_through_a_view_saved_before_its_base_changed_is_an_error(name):
    """The old engine returned [11, 12, 13, 14] here, silently: the view kept a version counter
    of its own."""
    base = mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=mg.float64)  # needs no grad
    v = VIEWS[name](base)
    w = mg.ones(v.shape, dtype=mg.float64, requires_grad=True)
    y = (w * v).sum()  # Mul saves v
    base.add_(10.0)
    with pytest.raises(RuntimeError, match=r"Mul: one of the variables needed for gradient computation has been "
                                           + MODIFIED + r": .* is at version 1; expected version 0 instead"):
        y.backward()


def test_the_issue_program_raises_instead_of_a_wrong_gradient():
    b = mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=mg.float64)
    w = mg.ones(4, dtype=mg.float64, requires_grad=True)
    y = (w * b.reshape(2, 2).reshape(4)).sum()
    b.add_(10.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_a_view_shares_memory_and_the_version_counter_with_its_base(name):
    base = mg.tensor([1.0, 2.0, 3.0, 4.0])
    v = VIEWS[name](base)
    assert np.shares_memory(v.data, base.data)
    assert v._version is base._version
    if name != "detach":
        assert v._base is base
    v2 = v.detach()
    base.mul_(2.0)
    assert v._version[0] == v2._version[0] == base._version[0] == 1


def test_copies_are_not_views():
    base = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    for copy in (base[mg.tensor([0, 1])], base[base > 2], base.T.reshape(4), base.clone(), base + 0):
        assert copy._base is None and copy._version is not base._version
        assert not np.shares_memory(copy.data, base.data)


# -- issue 12, item 2: in-place through a view writes the base, with and without a graph -------
def test_inplace_on_an_element_writes_the_base_whether_or_not_it_needs_grad():
    b = mg.tensor([1.0, 2.0])
    b[0].add_(10.0)
    assert b.tolist() == [11.0, 2.0]
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    b = x * 1.0
    b[0].add_(10.0)
    assert b.tolist() == [11.0, 2.0]


def test_inplace_through_a_view_is_recorded_and_rebases_the_base():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    w = mg.tensor([5.0, 7.0], requires_grad=True)
    b = x * 1.0
    row = b[0]
    row.mul_(w)  # b[0] = x[0] * w
    assert b.tolist() == [[5.0, 14.0], [3.0, 4.0]]
    assert b.grad_fn.name() == "CopySlices"
    (b * mg.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert x.grad.tolist() == [[5.0, 14.0], [3.0, 4.0]]  # d/dx[0] = w * weight, d/dx[1] = weight
    assert w.grad.tolist() == [1.0, 4.0]  # x[0] * weight[0]


def test_inplace_through_a_view_of_a_tensor_that_needs_no_grad_makes_it_need_grad():
    buf = mg.zeros(2, 3, dtype=mg.float64)
    col = buf[:, 1]  # another view, made before the write: it must see the new graph too
    v = mg.tensor([2.0, 3.0, 4.0], dtype=mg.float64, requires_grad=True)
    buf[1].copy_(v * v)
    assert buf.requires_grad and buf.grad_fn.name() == "CopySlices"
    assert col.requires_grad and col.tolist() == [0.0, 9.0]
    (buf.sum() + 10 * col.sum()).backward()
    assert v.grad.tolist() == [4.0, 66.0, 8.0]  # 2 v, and 10x more for v[1] read through col


def test_a_view_sees_inplace_changes_of_its_base_in_the_graph():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1.0
    t = h[1:]
    h.mul_(2.0)
    assert t.tolist() == [4.0, 6.0]
    (t * mg.tensor([1.0, 10.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 20.0]


def test_inplace_through_a_view_of_a_leaf_that_requires_grad_is_an_error():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf tensor that requires grad is being used in an in-place"):
        w[0].add_(1.0)
    with mg.no_grad():  # an optimizer's update through a view is fine
        w[0].add_(1.0)
    assert w.tolist() == [2.0, 2.0]


def test_inplace_on_an_expanded_view_is_refused_as_pytorch_does():
    h = mg.tensor([1.0, 2.0]) * 1.0
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single memory"):
        h.expand(3, 2).add_(1.0)
    h.expand(3, 2)[1].add_(1.0)  # one row of it is a plain view of h
    assert h.tolist() == [2.0, 3.0]


def test_a_view_made_under_no_grad_cannot_be_changed_in_place_in_the_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    with mg.no_grad():
        v = h[0]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode and is being modified inplace"):
        v.add_(1.0)


def test_inplace_through_chained_views_reaches_the_base():
    x = mg.arange(6, dtype=mg.float64).requires_grad_()
    h = x * 1.0
    v = h.reshape(2, 3).T[1:]  # rows 1-2 of the transpose: h[1], h[2], h[4], h[5]
    v.mul_(10.0)
    assert h.tolist() == [0.0, 10.0, 20.0, 3.0, 40.0, 50.0]
    h.sum().backward()
    assert x.grad.tolist() == [1.0, 10.0, 10.0, 1.0, 10.0, 10.0]


def test_detach_shares_the_counter_but_an_inplace_on_it_leaves_the_graph_alone():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = h * h  # saves h
    d = h.detach()
    d.add_(1.0)
    assert h.tolist() == [3.0, 5.0] and h.grad_fn.name() == "Mul"
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()
