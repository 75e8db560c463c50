"""The tensor methods that ported PyTorch code calls (pow, add, mul, norm, prod, sort, topk, flip,
roll, scatter, scatter_add, masked_select, mm, bmm, outer, log1p, cumsum) and einsum, against
PyTorch on the same float64 inputs: values, gradients and second derivatives to 1e-6."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch: pip install 'torch==2.13.0'")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_ops_parity import MG, TORCH, compare, floats, shapes  # noqa: E402

import minigrad as mg  # noqa: E402


def lib_of(lib):
    return torch if lib.torch else mg


def index_tensor(lib, a):
    return torch.tensor(a) if lib.torch else mg.tensor(a)


METHODS = {  # name -> (fn(lib, x), (lo, hi), unique values)
    "pow_method": (lambda lib, x: x.pow(2.5) + x.pow(x), (0.3, 2), False),
    "add_alpha": (lambda lib, x: x.add(x * 2, alpha=0.5).add(1.5), (-2, 2), False),
    "sub_mul_div": (lambda lib, x: x.sub(x.sin(), alpha=2).mul(x).div(x + 3), (-2, 2), False),
    "log1p": (lambda lib, x: x.log1p(), (-0.9, 3), False),
    # prod's derivative y / x loses every digit for x near 0 (here and in torch): spaced values
    "prod_all": (lambda lib, x: x.prod(), (-2, 2), True),
    "prod_dim": (lambda lib, x: x.prod(-1) + x.prod(0, keepdim=True).sum(), (-2, 2), True),
    # norms: spaced values (never exactly 0, where torch's second derivative is NaN; ours is 0)
    "norm_fro": (lambda lib, x: x.norm(), (-2, 2), True),
    "norm_dim": (lambda lib, x: x.norm(dim=-1, keepdim=True) * x.norm(p=1, dim=0).sum(), (-2, 2), True),
    "norm_p3": (lambda lib, x: x.norm(p=3, dim=-1), (-2, 2), True),
    "norm_p1_5": (lambda lib, x: x.norm(p=1.5), (-2, 2), True),
    "norm_p0_5": (lambda lib, x: x.norm(p=0.5, dim=0), (0.1, 2), False),
    "norm_inf": (lambda lib, x: x.norm(p=math.inf, dim=-1) + x.norm(p=-math.inf), (-2, 2), True),
    "cumsum": (lambda lib, x: x.cumsum(-1) * x.cumsum(0), (-2, 2), False),
    "sort": (lambda lib, x: x.sort(-1).values * 2 + x.sort(0, descending=True)[0], (-2, 2), True),
    "topk": (lambda lib, x: x.topk(min(2, x.shape[-1]), dim=-1).values.exp()
             + x.topk(1, dim=0, largest=False)[0].sum(), (-2, 2), True),
    "flip": (lambda lib, x: x.flip(-1) * x + lib_of(lib).flip(x, [0]), (-2, 2), False),
    "roll": (lambda lib, x: x.roll(1, -1) * x + x.roll(-2, 0) + x.roll(3).sin(), (-2, 2), False),
    "masked_select": (lambda lib, x: x.masked_select(x > 0.1) ** 2, (-2, 2), False),
}


@pytest.mark.parametrize("name", sorted(METHODS))
@settings(max_examples=10)
@given(data=st.data())
def test_methods(name, data):
    fn, (lo, hi), unique = METHODS[name]
    compare(fn, [data.draw(floats(data.draw(shapes), lo, hi, unique=unique))], second_order=True)


def test_prod_with_zeros_first_and_second_derivative():
    """One zero: only its own gradient survives; two zeros: all gradients are 0 (not NaN)."""
    for values in ([1.5, 0.0, -2.0, 3.0], [0.0, 2.0, 0.0, -1.0], [[0.0, 2.0], [1.5, -3.0]]):
        a = np.array(values)
        compare(lambda lib, x: x.prod(), [a], second_order=True)
        compare(lambda lib, x: x.prod(0), [a], second_order=True)


def test_norm_at_zero_has_zero_gradient():
    compare(lambda lib, x: x.norm(dim=-1), [np.array([[0.0, 0.0], [3.0, 4.0]])])
    compare(lambda lib, x: x.norm(p=3, dim=-1), [np.array([[0.0, 0.0], [3.0, -4.0]])])


def test_norm_inf_splits_ties_evenly():
    compare(lambda lib, x: x.norm(p=math.inf), [np.array([2.0, -2.0, 1.0])])


def test_mm_bmm_outer():
    rng = np.random.default_rng(0)
    compare(lambda lib, a, b: a.mm(b), [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))], second_order=True)
    compare(lambda lib, a, b: a.bmm(b), [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))],
            second_order=True)
    compare(lambda lib, a, b: a.outer(b) * lib_of(lib).outer(b, a).T, [rng.standard_normal(3), rng.standard_normal(3)],
            second_order=True)
    with pytest.raises(ValueError, match=r"mm: expected two matrices, got shapes \(2, 3, 4\)"):
        mg.zeros(2, 3, 4).mm(mg.zeros(4, 2))
    with pytest.raises(ValueError, match="bmm: expected two batches"):
        mg.zeros(2, 3, 4).bmm(mg.zeros(3, 4, 5))


SCATTER_INDEX = {  # dim -> an index that writes each position at most once (torch leaves repeats unspecified)
    0: np.array([[2, 0, 1, 1], [0, 1, 2, 0]]),
    1: np.array([[3, 0, 1], [1, 2, 0], [0, 3, 2]]),
    -1: np.array([[2], [0], [3]]),
}


@pytest.mark.parametrize("dim", sorted(SCATTER_INDEX))
def test_scatter_and_scatter_add(dim):
    rng = np.random.default_rng(dim + 5)
    index = SCATTER_INDEX[dim]
    x, src = rng.standard_normal((3, 4)), rng.standard_normal(index.shape)
    compare(lambda lib, a, s: a.scatter(dim, index_tensor(lib, index), s) * 1.5, [x, src], second_order=True)
    compare(lambda lib, a: a.scatter(dim, index_tensor(lib, index), value=-0.5), [x])
    # scatter_add: repeats add up
    repeated = rng.integers(0, x.shape[dim], index.shape)
    compare(lambda lib, a, s: a.scatter_add(dim, index_tensor(lib, repeated), s).sin(), [x, src], second_order=True)
    # src larger than the index: its leading part is used (torch computes the values but its backward
    # refuses this case, so finite differences judge the gradient)
    big = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    a = mg.tensor(x, requires_grad=True)
    assert mg.gradcheck(lambda a, s: a.scatter_add(dim, mg.tensor(repeated), s).sin(), (a, big))
    assert mg.gradcheck(lambda a, s: a.scatter(dim, mg.tensor(index), s).sin(), (a, big))
    expected = torch.tensor(x).scatter_add(dim, torch.tensor(repeated), torch.tensor(big.numpy()))
    np.testing.assert_allclose(a.scatter_add(dim, mg.tensor(repeated), big).numpy(), expected.numpy(), rtol=1e-12)


def test_scatter_errors_name_the_problem():
    x = mg.zeros(3, 4)
    with pytest.raises(IndexError, match="scatter_add: index 5 is out of range"):
        x.scatter_add(0, mg.tensor([[5, 0, 0, 0]]), mg.ones(1, 4))
    with pytest.raises(IndexError, match="scatter: index -1 is out of range"):
        x.scatter(1, mg.tensor([[-1]]), mg.ones(1, 1))
    with pytest.raises(ValueError, match=r"scatter: index of shape \(1, 2\) is larger than src of shape \(1, 1\)"):
        x.scatter(1, mg.tensor([[0, 1]]), mg.ones(1, 1))


def test_sort_topk_indices_and_stability():
    a = np.array([[3.0, 1.0, 3.0, 2.0], [0.5, 0.5, -1.0, 4.0]])
    for kw in ({}, {"descending": True}):
        ours, theirs = mg.tensor(a).sort(-1, **kw), torch.tensor(a).sort(dim=-1, stable=True, **kw)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    v, i = mg.tensor(a).topk(2, dim=1)
    tv, ti = torch.tensor(a).topk(2, dim=1)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    assert i.dtype == mg.int64
    np.testing.assert_array_equal(mg.tensor([3, 1, 2]).argsort(descending=True).numpy(), [0, 2, 1])
    with pytest.raises(ValueError, match=r"topk: k=5 is out of range for a dim of size 4"):
        mg.tensor(a).topk(5)


def test_cumsum_of_integers_stays_integer_and_takes_no_gradient():
    c = mg.tensor([1, 2, 3]).cumsum(0)
    assert c.dtype == mg.int64 and c.tolist() == [1, 3, 6] and not c.requires_grad


def test_roll_and_flip_match_torch_on_integers():
    a = np.arange(24).reshape(2, 3, 4)
    for args in [(1, 0), (-1, 2), ((1, 2), (0, 2)), (5, None)]:
        np.testing.assert_array_equal(mg.tensor(a).roll(*args).numpy(), torch.tensor(a).roll(*args).numpy())
    np.testing.assert_array_equal(mg.tensor(a).flip(0, 2).numpy(), torch.tensor(a).flip((0, 2)).numpy())


# -- einsum --------------------------------------------------------------------------------------
EINSUMS = [  # equation, operand shapes
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iji->j", [(3, 2, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ba", [(3, 4)]),
    ("i,i,i->i", [(4,), (4,), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("b...i->b...", [(2, 3, 4)]),
    ("...", [(2, 3)]),
    ("ij,ij->ij", [(1, 3), (4, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("iJ,Jk->ik", [(2, 3), (3, 2)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(equation, shapes):
    rng = np.random.default_rng(len(equation))
    arrays = [rng.standard_normal(s) for s in shapes]
    expected = np.einsum(equation, *arrays)
    np.testing.assert_allclose(mg.einsum(equation, *[mg.tensor(a) for a in arrays]).numpy(), expected, rtol=1e-12)
    compare(lambda lib, *xs: lib_of(lib).einsum(equation, *xs), arrays, second_order=True)


def test_einsum_sublist_form_and_list_of_operands():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    expected = np.einsum(a, [0, 1], b, [1, 2], [0, 2])
    np.testing.assert_allclose(mg.einsum(mg.tensor(a), [0, 1], mg.tensor(b), [1, 2], [0, 2]).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(mg.einsum("ij,jk", [mg.tensor(a), mg.tensor(b)]).numpy(), a @ b, rtol=1e-12)
    compare(lambda lib, x, y: lib_of(lib).einsum(x, [0, Ellipsis, 1], y, [1, 2]), [rng.standard_normal((2, 3)), b])


def test_einsum_errors():
    with pytest.raises(ValueError, match="einsum: the equation 'ij,jk' names 2 operands, but 1 were given"):
        mg.einsum("ij,jk", mg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"einsum: index 'j' has size 3 in one place and 4 in another"):
        mg.einsum("ij,jk", mg.zeros(2, 3), mg.zeros(4, 2))
    with pytest.raises(ValueError, match=r"einsum: operand of shape \(2, 3\) does not fit its subscripts 'ijk'"):
        mg.einsum("ijk->i", mg.zeros(2, 3))
    with pytest.raises(ValueError, match="add '...' to the output"):
        mg.einsum("...i->i", mg.zeros(2, 3))
