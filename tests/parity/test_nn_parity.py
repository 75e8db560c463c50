"""Each layer and loss against PyTorch with the same weights: values and gradients.

float64 to 1e-6, float32 to 1e-4 (the issue's tolerances)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402

TOL = {np.float64: 1e-6, np.float32: 1e-4}


def copy_weights(ours, theirs):
    """Load a torch module's weights into ours by name."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def check(ours_out, theirs_out, dtype):
    np.testing.assert_allclose(ours_out.numpy(), theirs_out.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def run_both(make_ours, make_theirs, x_np, dtype, target_fn=None):
    """Forward the same input through both, backprop a fixed random cotangent, compare all grads."""
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    theirs = make_theirs().to(torch_dtype)
    ours = make_ours()
    ours.to(dtype=dtype)
    copy_weights(ours, theirs)
    xt = torch.tensor(x_np, dtype=torch_dtype, requires_grad=True)
    xo = mg.tensor(x_np.astype(dtype), requires_grad=True)
    yt, yo = theirs(xt), ours(xo)
    check(yo, yt, dtype)
    g = np.random.default_rng(0).standard_normal(yt.shape)
    yt.backward(torch.tensor(g, dtype=torch_dtype))
    yo.backward(mg.tensor(g.astype(dtype)))
    check(xo.grad, xt.grad, dtype)
    for (n, p), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == n2
        check(p.grad, p2.grad, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear(dtype):
    x = np.random.default_rng(1).standard_normal((2, 5, 7))
    run_both(lambda: nn.Linear(7, 3), lambda: torch.nn.Linear(7, 3), x, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm(dtype):
    x = np.random.default_rng(2).standard_normal((3, 4, 6)) * 3 + 1
    ln_t = lambda: torch.nn.LayerNorm(6)  # noqa: E731

    def make_t():
        m = ln_t()
        with torch.no_grad():  # non-trivial affine parameters
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
        return m

    run_both(lambda: nn.LayerNorm(6), make_t, x, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_with_activations(dtype):
    x = np.random.default_rng(3).standard_normal((4, 5))

    def make(lib):
        return lib.Sequential(lib.Linear(5, 8), lib.GELU(), lib.Linear(8, 8), lib.GELU(approximate="tanh"),
                              lib.Linear(8, 8), lib.Tanh(), lib.Linear(8, 8), lib.Sigmoid(), lib.Linear(8, 3),
                              lib.ReLU(), lib.Softmax(dim=-1))

    run_both(lambda: make(nn), lambda: make(torch.nn), x, dtype)


def test_embedding_with_padding_idx():
    theirs = torch.nn.Embedding(7, 4, padding_idx=3).double()
    ours = nn.Embedding(7, 4, padding_idx=3).double()
    copy_weights(ours, theirs)
    idx = np.array([[0, 3, 6], [3, 3, 1]])
    yt, yo = theirs(torch.tensor(idx)), ours(mg.tensor(idx))
    check(yo, yt, np.float64)
    g = np.random.default_rng(4).standard_normal(yt.shape)
    yt.backward(torch.tensor(g))
    yo.backward(mg.tensor(g))
    check(ours.weight.grad, theirs.weight.grad, np.float64)


@pytest.mark.parametrize("kwargs", [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 2}, {"label_smoothing": 0.1},
    {"weight": True}, {"weight": True, "label_smoothing": 0.2}, {"weight": True, "ignore_index": 1, "reduction": "sum"},
])
def test_cross_entropy_variants(kwargs):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 5))
    t = np.array([0, 1, 2, 3, 4, 2])
    kw_t, kw_o = dict(kwargs), dict(kwargs)
    if kwargs.get("weight"):
        w = rng.uniform(0.5, 2, 5)
        kw_t["weight"], kw_o["weight"] = torch.tensor(w), mg.tensor(w)
    xt = torch.tensor(x, requires_grad=True)
    xo = mg.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **kw_t)
    lo = F.cross_entropy(xo, mg.tensor(t), **kw_o)
    check(lo, lt, np.float64)
    gt = torch.ones_like(lt)
    lt.backward(gt)
    lo.backward(mg.ones(lo.shape, dtype=mg.float64))
    check(xo.grad, xt.grad, np.float64)


def test_cross_entropy_sequence_shape_and_probability_targets():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 3))  # (N, C, d1)
    t = rng.integers(0, 4, (2, 3))
    lt = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    lo = F.cross_entropy(mg.tensor(x), mg.tensor(t))
    check(lo, lt, np.float64)
    p = rng.dirichlet(np.ones(4), 5)
    z = rng.standard_normal((5, 4))
    lt = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(p), label_smoothing=0.1)
    lo = F.cross_entropy(mg.tensor(z), mg.tensor(p), label_smoothing=0.1)
    check(lo, lt, np.float64)


def test_other_losses():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))
    pw = rng.uniform(0.5, 2, 3)
    tf = torch.nn.functional
    for name, ours, theirs in [
        ("mse", lambda a: F.mse_loss(a, mg.tensor(y)), lambda a: tf.mse_loss(a, torch.tensor(y))),
        ("bce", lambda a: F.binary_cross_entropy_with_logits(a, mg.tensor(y), pos_weight=mg.tensor(pw)),
         lambda a: tf.binary_cross_entropy_with_logits(a, torch.tensor(y), pos_weight=torch.tensor(pw))),
        ("nll", lambda a: F.nll_loss(a.log_softmax(1), mg.tensor([0, 2, 1, 1]), ignore_index=1),
         lambda a: tf.nll_loss(a.log_softmax(1), torch.tensor([0, 2, 1, 1]), ignore_index=1)),
    ]:
        xt = torch.tensor(x, requires_grad=True)
        xo = mg.tensor(x, requires_grad=True)
        lt, lo = theirs(xt), ours(xo)
        check(lo, lt, np.float64)
        lt.backward()
        lo.backward()
        check(xo.grad, xt.grad, np.float64)


@pytest.mark.parametrize("fn", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"])
def test_init_statistics_match_pytorch(fn):
    ours = mg.zeros(400, 300)
    theirs = torch.zeros(400, 300)
    getattr(nn.init, fn)(ours)
    getattr(torch.nn.init, fn)(theirs)
    # different random streams, same distribution: compare spread and range
    assert abs(ours.numpy().std() - theirs.numpy().std()) / theirs.numpy().std() < 0.02
    assert abs(np.abs(ours.numpy()).max() - np.abs(theirs.numpy()).max()) / np.abs(theirs.numpy()).max() < 0.25
