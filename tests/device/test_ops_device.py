"""Every differentiable op on the device: value, gradient of a fixed random projection of the
output, and (where the op's backward is differentiable, which is all of them) the second
derivative along a random direction, each against the same computation on the CPU.
A completeness test keeps the table in step with the ops: a new Function needs a row here."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd
from minigrad.autograd import Function
from minigrad.nn import functional as F
from minigrad.ops import fused
from minigrad.ops.linalg import WeightedSum
from minigrad.ops.shape import IndexSelect

import standin


def f64(*shape, lo=-2.0, hi=2.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def distinct(*shape, seed=0):
    """Values without ties (max/min/sort have tie rules of their own, tested on the CPU)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) / n - 0.5).reshape(shape)


def ids(high, *shape, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape)


def with_zeros(*shape, at, seed=0):
    """Values away from 0, except exact zeros at the positions `at` (prod's and norm's special cases)."""
    a = f64(*shape, lo=0.5, hi=1.5, seed=seed) * np.sign(f64(*shape, seed=seed + 10))
    for position in at:
        a[position] = 0.0
    return a


def write_through_views(x, y):
    """In-place ops through views of an intermediate: recorded as CopySlices on its base."""
    z = x * 1.0
    z[1:, :2].mul_(y)
    z.reshape(-1)[::3].add_(y.reshape(-1)[:2].sum())
    return z


# name -> (fn(*tensors), input arrays, Function classes it runs)
CASES = {
    "add": (lambda x, y: x + y, [f64(3, 1, 4), f64(2, 4, seed=1)], {"Add"}),
    "sub": (lambda x, y: x - y, [f64(3, 4), f64(4, seed=1)], {"Sub"}),
    "mul": (lambda x, y: x * y * 0.5, [f64(2, 3, 4), f64(3, 1, seed=1)], {"Mul"}),
    "div": (lambda x, y: x / y, [f64(3, 4), f64(3, 4, lo=0.5, hi=2.0, seed=1)], {"Div"}),
    "neg_abs": (lambda x: (-x).abs(), [f64(3, 4)], {"Neg", "Abs"}),
    "pow": (lambda x, y: x ** y + 2.0 ** x + x ** 3, [f64(3, 4, lo=0.5, hi=2), f64(3, 4, seed=1)], {"Pow"}),
    "exp_log_sqrt": (lambda x: x.exp() + x.log() + x.sqrt(), [f64(3, 4, lo=0.5, hi=2)], {"Exp", "Log", "Sqrt"}),
    "sin_cos": (lambda x: x.sin() * x.cos(), [f64(3, 4)], {"Sin", "Cos"}),
    "tanh_sigmoid_relu": (lambda x: x.tanh() + x.sigmoid() + x.relu(), [f64(3, 4)], {"Tanh", "Sigmoid", "Relu"}),
    "erf_gelu": (lambda x: x.erf() + x.gelu() + x.gelu("tanh"), [f64(3, 4)], {"Erf", "Gelu"}),
    "gelu_float32": (lambda x: x.float().gelu() * 1.0, [f64(4, 5, lo=-6, hi=6)], {"Gelu", "Cast"}),
    "clamp": (lambda x: x.clamp(-0.5, 1.0), [f64(3, 4)], {"Clamp"}),
    "maximum_minimum": (lambda x, y: x.maximum(y) + x.minimum(y), [distinct(3, 4), distinct(3, 4, seed=1) * 0.9],
                        {"Maximum", "Minimum"}),
    "where_masked_fill": (lambda x, y: mg.where(x > 0, x, y).masked_fill(y > 0.5, -1.0),
                          [f64(3, 4), f64(3, 4, seed=1)], {"Where"}),
    "cast_contiguous": (lambda x: x.float().permute(1, 0).contiguous().double() * 2.0, [f64(3, 4)],
                        {"Cast", "Contiguous", "Permute"}),
    "sum_mean": (lambda x: x.sum(dim=1, keepdim=True) + x.mean(dim=(0, 2)).sum() + x.mean(), [f64(2, 3, 4)],
                 {"Sum", "Mean"}),
    "max_min": (lambda x: x.amax(dim=1) + x.amin(dim=1) + x.max(dim=0).values.sum() + x.max(), [distinct(3, 4)],
                {"Max", "Min"}),
    "logsumexp": (lambda x: x.logsumexp(dim=-1).sum() + x.logsumexp(dim=(0, 1)), [f64(2, 3, 4)], {"LogSumExp"}),
    "reshape_expand": (lambda x: x.reshape(4, 3).unsqueeze(0).expand(2, 4, 3) * 1.0, [f64(3, 4)],
                       {"Reshape", "Expand"}),
    "cat_pad": (lambda x, y: mg.cat([x, y], dim=1).pad((1, 2, 0, 1), value=0.5), [f64(2, 3), f64(2, 2, seed=1)],
                {"Cat", "Pad"}),
    "rsqrt_var_std": (lambda x: x.rsqrt() + x.var(dim=1, keepdim=True) + x.std(dim=0).sum() + x.std(),
                      [f64(3, 4, lo=0.5, hi=2)], {"Rsqrt", "Var", "Std"}),
    "copyslices": (write_through_views, [f64(3, 4), f64(2, 2, seed=1)], {"CopySlices"}),
    "tril_triu": (lambda x: x.tril() + x.triu(1) * 2.0, [f64(2, 4, 4)], {"Tril", "Triu"}),
    "getitem": (lambda x, i: x[1:, ::2].sum() + x[i].sum(dim=0) + x[x > 0].sum(), [f64(3, 4), ids(3, 5)],
                {"GetItem", "IndexAccumulate"}),
    "setitem": (lambda x, y: _setitem(x, y), [f64(3, 4), f64(2, seed=1)], {"SetItem"}),
    "gather": (lambda x, i: x.gather(1, i), [f64(3, 5), ids(5, 3, 4)], {"Gather", "ScatterAdd"}),
    "index_select": (lambda x, i: x.index_select(1, i), [f64(3, 5), ids(5, 7)], {"IndexSelect"}),
    "matmul": (lambda a, b, c, d: (a @ b).sum() + (c @ b).sum(dim=0) + (d @ d) + (a @ d).sum(),
               [f64(3, 4), f64(4, 5, seed=1), f64(2, 3, 4, seed=2), f64(4, seed=3)], {"MatMul"}),
    "softmax_log_softmax": (lambda x: x.softmax(-1) + x.log_softmax(0), [f64(3, 4)], {"Softmax", "LogSoftmax"}),
    "linear": (lambda x, w, b: F.linear(x, w, b) + F.linear(x, w), [f64(2, 3, 4), f64(5, 4, seed=1), f64(5, seed=2)],
               {"Linear"}),
    "cross_entropy": (lambda x, t, w: F.cross_entropy(x, t) + F.cross_entropy(x, t, weight=w.detach(), ignore_index=2,
                                                                              label_smoothing=0.1),
                      [f64(6, 5), ids(5, 6), f64(5, lo=0.5, hi=1.5, seed=2)], {"CrossEntropy"}),
    "cross_entropy_probs": (lambda x, q: F.cross_entropy(x, q.softmax(-1), reduction="none"),
                            [f64(2, 5, 3), f64(2, 5, 3, seed=1)], {"CrossEntropy"}),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b) + F.layer_norm(x, (3, 4)),
                   [f64(2, 3, 4), f64(4, seed=1), f64(4, seed=2)], {"LayerNorm"}),
    "embedding": (lambda w, i: F.embedding(i, w) + F.embedding(i, w, padding_idx=1), [f64(6, 3), ids(6, 2, 5)],
                  {"Embedding"}),
    "sdpa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
             + F.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(5, 5, device=q.device).tril() > 0),
             [f64(2, 5, 4), f64(2, 5, 4, seed=1), f64(2, 5, 4, seed=2)], {"ScaledDotProductAttention"}),
    "rnn_lstm_gru_scans": (lambda x: _scans(x), [f64(4, 2, 3)], {"RNNScan", "LSTMScan", "GRUScan"}),
    "weighted_sum": (lambda a, k: WeightedSum.apply(a.softmax(-1), k), [f64(2, 5), f64(2, 5, 3, seed=1)],
                     {"WeightedSum"}),
    # issue 15's ops
    "log1p_leaky_relu": (lambda x: x.log1p() * F.leaky_relu(x, 0.2), [f64(3, 4, lo=-0.5)], {"Log1p", "LeakyRelu"}),
    "prod": (lambda x, z: x.prod(1) + x.prod(0, keepdim=True).sum() + x.prod() + z.prod(1) + z.prod(),
             [f64(3, 4, lo=0.5, hi=1.5), with_zeros(3, 4, at=[(0, 1), (1, 0), (1, 2)])], {"Prod"}),
    "vector_norm": (lambda x, z: x.norm() + x.norm(1, dim=1) + x.norm(float("inf"), dim=0).sum()
                    + x.norm(float("-inf")) + x.norm(3, dim=(0, 1), keepdim=True) + x.norm(0.5, dim=1)
                    + z.norm(dim=1) + z.norm(0.5, dim=1) + z.norm(0),
                    [distinct(3, 4), with_zeros(3, 4, at=[(0, 1), (2, 0), (2, 1), (2, 2), (2, 3)], seed=1)],
                    {"VectorNorm"}),
    "cumsum": (lambda x: x.cumsum(1) + x.cumsum(-2) * x, [f64(3, 4)], {"Cumsum"}),
    "scatter": (lambda x, s, i, j: x.scatter(1, i, s) + x.scatter(0, j, value=2.0) * x + x.scatter_add(1, i, s * s),
                [f64(3, 4), f64(3, 2, seed=1), np.argsort(f64(3, 4, seed=2), axis=1)[:, :2],
                 np.argsort(f64(3, 4, seed=3), axis=0)[:2]], {"Scatter"}),
    "sort_topk_flip_roll": (lambda x: x.sort(1).values * x.sort(0, descending=True).values
                            + x.topk(4, 1).values.flip(1) + x.topk(2, 0, largest=False).values.sum(0)
                            + x.flip(0, 1).roll(2, 1) * x.roll(-1) + x.roll((1, -1), (0, 1))
                            + x.gather(1, x.argsort(1, descending=True)) * 0.5,
                            [distinct(3, 4)], set()),
    "masked_select": (lambda x, y: x.masked_select(x > 0) * 2.0 + y.masked_select(x.sum(0) > 0).sum(),
                      [f64(3, 4), f64(2, 3, 4, seed=1)], set()),
    "mm_bmm_outer_methods": (lambda a, b, c, v: a.mm(b).sum() + c.bmm(c.transpose(1, 2)).sum(0)
                             + v.outer(v) + a.add(a, alpha=2).sub(a).mul(a).div(2.0).pow(2).sum(),
                             [f64(3, 3), f64(3, 3, seed=1), f64(2, 3, 3, seed=2), f64(3, seed=3)], set()),
    "einsum": (lambda a, b, c, d: mg.einsum("ij,jk->ik", a, b) + mg.einsum("ii->i", b)
               + mg.einsum("bij,bjk->ik", c, c) + mg.einsum("...j,...j->...", c, c).sum(0)
               + mg.einsum(a, [0, 1], d, [1], [0]) + mg.einsum("ij,j", a, d) + mg.einsum("ij->", a),
               [f64(3, 3), f64(3, 3, seed=1), f64(2, 3, 3, seed=2), f64(3, seed=3)], {"Einsum"}),
    "unfold_fold": (lambda x, c: F.unfold(x, 2, padding=1, stride=(1, 2)) * 1.0
                    + F.fold(c, (4, 5), 2, padding=1, stride=(1, 2)).sum() * x.sum(),
                    [f64(2, 3, 4, 5), f64(2, 12, 15, seed=1)], {"Unfold", "Fold"}),
    "conv": (lambda x, w, b, v, u: F.conv2d(x, w, b, stride=(1, 2), padding=1, dilation=(2, 1))
             + F.conv2d(x, w[:, :1], padding="same", groups=2).sum()
             + F.conv1d(v, u, stride=2, padding=1).sum(),
             [f64(2, 2, 5, 6), f64(4, 2, 3, 2, seed=1), f64(4, seed=2), f64(2, 3, 7, seed=3), f64(2, 3, 3, seed=4)],
             {"Unfold"}),
    "max_pool": (lambda x, v: _max_pool_with_indices(x)
                 + F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)[..., :2, :2]
                 + F.max_pool1d(v, 3, stride=1, dilation=2).sum(), [distinct(2, 3, 4, 4), distinct(2, 3, 8, seed=1)],
                 {"MaxPool"}),
    "avg_pool": (lambda x, v: F.avg_pool2d(x, 2, padding=1) * F.avg_pool2d(x, 3, stride=1, padding=1, ceil_mode=True,
                                                                         count_include_pad=False)[..., :3, :3]
                 + F.avg_pool2d(x, 2, divisor_override=3).sum() + F.avg_pool1d(v, 3, stride=2).sum(),
                 [f64(2, 3, 4, 4), f64(2, 3, 8, seed=1)], {"Unfold"}),
    "batch_norm": (lambda x, w, b, y: _batch_norm(x, w, b) + F.batch_norm(y, None, None, w, b, training=True).sum(),
                   [f64(4, 3, 2), f64(3, seed=1), f64(3, seed=2), f64(5, 3, seed=3)], {"BatchNorm"}),
    "rms_norm": (lambda x, w: F.rms_norm(x, 4, w) + F.rms_norm(x, (3, 4), eps=1e-3),
                 [f64(2, 3, 4), f64(4, seed=1)], {"RMSNorm"}),
}


def _max_pool_with_indices(x):
    """The maxima, and the values read back at the indices max_pool2d returns (on x's device)."""
    y, at = F.max_pool2d(x, 2, return_indices=True)
    assert at.device == x.device and at.dtype == np.int64
    return y + x.flatten(2).gather(2, at.flatten(2)).reshape(y.shape)


def _batch_norm(x, w, b):
    """Training-mode batch norm updating running statistics kept on x's device; they are part of
    the output, so a wrong update on either device shows."""
    running_mean, running_var = mg.zeros(3, device=x.device, dtype=x.dtype), mg.ones(3, device=x.device, dtype=x.dtype)
    y = F.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=0.3)
    return y + running_mean.reshape(1, 3, 1) + running_var.reshape(1, 3, 1)


def _setitem(x, y):
    z = x * 1.0
    z[1, 1:3] = y * 2.0
    return z


_LAYERS = {}


def _scans(x):
    """RNN, LSTM and GRU over (T, B, 3), with padding (lengths on the device) on the GRU; the
    layers are made once per device, from one seed, so both devices hold the same weights."""
    if x.device not in _LAYERS:
        mg.manual_seed(0)
        layers = [cls(3, 2).double().to(x.device) for cls in (mg.nn.RNN, mg.nn.LSTM, mg.nn.GRU)]
        _LAYERS[x.device] = layers + [mg.tensor([4, 2], device=x.device)]
    rnn, lstm, gru, lengths = _LAYERS[x.device]
    return rnn(x)[0] + lstm(x)[0] + gru(x, lengths=lengths)[0]


def run_case(fn, arrays, device, second_order=True):
    """fn on `device`: its output, the gradients of sum(out * R) and a second derivative."""
    xs = [mg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*xs)
    R = mg.tensor(np.random.default_rng(7).standard_normal(out.shape), dtype=out.dtype, device=device)
    wrt = [x for x in xs if x.requires_grad]
    grads = autograd.grad((out * R).sum(), wrt, create_graph=second_order, allow_unused=True)
    result = {"out": out}
    result.update({f"grad{i}": g for i, g in enumerate(grads) if g is not None})
    if second_order:
        dirs = [mg.tensor(np.random.default_rng(8 + i).standard_normal(w.shape), device=device) for i, w in enumerate(wrt)]
        gv = sum((g * d).sum() for g, d in zip(grads, dirs) if g is not None)
        if gv.requires_grad:  # a linear op's gradient does not depend on its inputs
            second = autograd.grad(gv, wrt, allow_unused=True)
            result.update({f"grad2_{i}": g for i, g in enumerate(second) if g is not None})
    return result


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_forward_backward_and_second_order_on_the_device(name, same_on_device):
    fn, arrays, _ = CASES[name]
    same_on_device(lambda dev: run_case(fn, arrays, dev))


def _functions(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _functions(sub)


def test_every_function_of_the_library_has_a_device_case():
    """A new op (a Function subclass anywhere in minigrad/) must get a row in CASES."""
    abstract = {"Fused", "_Scan", "_Extreme", "ToDevice"}  # ToDevice: test_to_device_and_back
    defined = {c.__name__ for c in _functions(Function) if c.__module__.startswith("minigrad.")} - abstract
    covered = set().union(*(covers for _, _, covers in CASES.values()))
    assert not defined - covered, f"ops without a device case in CASES: {sorted(defined - covered)}"


def test_to_device_and_back_carries_the_gradient(device):
    x = mg.tensor(f64(3, 4), requires_grad=True)
    y = x.to(device)
    assert y.device == "cuda"
    z = (y * y).to("cpu")
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())
    assert x.grad.device == "cpu"


def test_index_select_backward_builds_its_index_on_the_device(device):
    """IndexSelect's backward indexes with a tuple of slices and the saved device index."""
    x = mg.tensor(f64(3, 5), device=device, requires_grad=True)
    x.index_select(1, mg.tensor([0, 0, 4], device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([2.0, 0, 0, 0, 1.0], (3, 1)))
    assert IndexSelect.__name__ in CASES["index_select"][2]


def test_float32_ops_agree_within_float32_rounding(same_on_device):
    def run(dev):
        x = mg.tensor(f64(4, 6), dtype=np.float32, device=dev, requires_grad=True)
        w = mg.tensor(f64(3, 6, seed=1), dtype=np.float32, device=dev, requires_grad=True)
        y = fused.Linear.apply(x, w, None).gelu().softmax(-1)
        loss = F.cross_entropy(y, mg.tensor([0, 1, 2, 1], device=dev))
        loss.backward()
        return {"out": loss, "grad_x": x.grad, "grad_w": w.grad}

    same_on_device(run)


# reading a boolean mask's number of Trues is the one transfer an op may need (its output's shape)
SYNCS_BY_DESIGN = {"getitem": [("boolean-mask indexing (its size)", 1)],
                   "masked_select": [("boolean-mask indexing (its size)", 1)] * 2}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_forward_and_backward_copy_nothing_between_host_and_device(name, device, standin_only):
    """No op waits for the device or ships data across: index range checks are queued on the
    device (backend.check_index_range), fully masked attention rows are handled elementwise."""
    fn, arrays, _ = CASES[name]
    xs = [mg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]
    R = mg.tensor(np.random.default_rng(7).standard_normal(fn(*xs).shape), device=device)
    with standin.transfers() as log:
        (fn(*xs) * R).sum().backward()
    assert log.to_device == [] and log.to_host == SYNCS_BY_DESIGN.get(name, []), log


def test_indexing_a_device_tensor_with_host_indices_moves_them_once(device, same_on_device):
    """Lists and numpy arrays inside an index cross to the tensor's device (as PyTorch moves a CPU
    index to the GPU); a numpy index meeting device data would be a host/device mix."""

    def run(dev):
        x = mg.tensor(f64(4, 5), device=dev, requires_grad=True)
        y = x[[0, 2, 2]] * 2.0 + x[np.array([1, 1, 3]), 1:].sum(-1, keepdim=True) + x[np.array([True, False, True, True])][0]
        z = x * 1.0
        z[[0, 3], np.array([1, 4])] = 0.0
        (y.sum() + z.sum()).backward()
        return {"out": y, "z": z, "grad_x": x.grad}

    same_on_device(run)


def test_gather_and_scatter_with_host_indices_move_them_to_the_device(device, same_on_device):
    """A list or numpy index given to gather, index_select, scatter or scatter_add on a device
    tensor crosses once, as an index in [] does (it met device data before, which cupy refuses)."""

    def run(dev):
        x = mg.tensor(f64(3, 4), device=dev, requires_grad=True)
        s = mg.tensor(f64(3, 2, seed=1), device=dev, requires_grad=True)
        i = np.array([[3, 0], [1, 2], [0, 0]])
        y = (x.gather(1, i).sum() + x.index_select(1, [2, 0, 2]).sum(0).sum() + x.scatter(1, [[1], [0], [3]], 2.0)
             + x.scatter(1, i[:, :1], s) * x + x.scatter_add(1, i.tolist(), s * s))
        y.sum().backward()
        return {"out": y, "grad_x": x.grad, "grad_s": s.grad}

    same_on_device(run)


def test_gradcheck_and_gradgradcheck_run_on_the_device(device):
    x = mg.tensor(f64(2, 3), device=device, requires_grad=True)
    w = mg.tensor(f64(3, 2, seed=1), device=device, requires_grad=True)
    assert mg.gradcheck(lambda x, w: (x @ w).tanh().softmax(-1), (x, w))
    assert mg.gradgradcheck(lambda x, w: (x @ w).tanh().softmax(-1), (x, w))
