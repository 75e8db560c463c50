"""The CNN and normalisation layers against PyTorch with the same weights: Conv1d/Conv2d (stride,
padding, dilation, groups), unfold/fold, MaxPool/AvgPool (indices, ceil_mode, count_include_pad),
BatchNorm1d/2d (train/eval, running statistics, momentum, state dict), RMSNorm, SiLU, LeakyReLU,
BCEWithLogitsLoss, MSELoss, Flatten, ParameterList/ParameterDict. float64 to 1e-6, every gradient;
gradcheck and gradgradcheck on the new ops."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")

from test_nn_parity import check, copy_weights, run_both  # noqa: E402
from test_ops_parity import compare  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
from minigrad import nn  # noqa: E402

TF = torch.nn.functional
F64 = np.float64


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# -- convolutions ------------------------------------------------------------------------------------
CONV2D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(dilation=2, padding=2),
    dict(padding="same", dilation=(1, 2)),
    dict(padding="valid"),
    dict(groups=2),
    dict(groups=4, stride=2, bias=False),
]


@pytest.mark.parametrize("kwargs", CONV2D, ids=[str(k) for k in CONV2D])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d(kwargs, dtype):
    run_both(lambda: nn.Conv2d(4, 8, 3, **kwargs), lambda: torch.nn.Conv2d(4, 8, 3, **kwargs), rand(2, 4, 7, 9), dtype)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=3, padding=2), dict(dilation=2, groups=3), dict(padding="same")])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's own note
def test_conv1d(kwargs):
    run_both(lambda: nn.Conv1d(3, 6, 4, **kwargs), lambda: torch.nn.Conv1d(3, 6, 4, **kwargs), rand(2, 3, 11), F64)


def test_conv_unbatched_input_and_rectangular_kernel():
    run_both(lambda: nn.Conv2d(2, 3, (2, 3), stride=(1, 2)), lambda: torch.nn.Conv2d(2, 3, (2, 3), stride=(1, 2)),
             rand(2, 5, 6), F64)


def test_conv_functional_second_derivatives_match_torch():
    compare(lambda lib, x, w, b: (TF if lib.torch else F).conv2d(x, w, b, stride=2, padding=1, groups=2).tanh(),
            [rand(2, 4, 5, 5), rand(6, 2, 3, 3, seed=1), rand(6, seed=2)], second_order=True)


def test_conv_gradcheck_and_gradgradcheck():
    x = mg.tensor(rand(1, 2, 5, 4), requires_grad=True)
    w = mg.tensor(rand(4, 1, 2, 3, seed=1), requires_grad=True)
    b = mg.tensor(rand(4, seed=2), requires_grad=True)
    fn = lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)  # noqa: E731
    assert mg.gradcheck(fn, (x, w, b))
    assert mg.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(dilation=2, stride=(1, 2))])
def test_unfold_and_fold(kwargs):
    x = rand(2, 3, 6, 7)
    compare(lambda lib, a: (TF if lib.torch else F).unfold(a, (2, 3), **kwargs), [x], second_order=True)
    cols = (TF.unfold(torch.tensor(x), (2, 3), **kwargs)).numpy()
    compare(lambda lib, c: (TF if lib.torch else F).fold(c, (6, 7), (2, 3), **kwargs), [cols])
    assert mg.gradgradcheck(lambda c: F.fold(c, (6, 7), (2, 3), **kwargs).sin(), (mg.tensor(cols, requires_grad=True),))


def test_conv_init_matches_pytorchs_bounds():
    mg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Conv2d(16, 32, 5), torch.nn.Conv2d(16, 32, 5)
    bound = 1 / math.sqrt(16 * 25)  # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for p in (ours.weight, ours.bias, theirs.weight, theirs.bias):
        assert np.abs(p.detach().numpy()).max() <= bound
    # 12,800 draws: the spread of U(-b, b) is b / sqrt(3) within a few percent, in both libraries
    for w in (ours.weight.numpy(), theirs.weight.detach().numpy()):
        assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


def test_conv_errors_name_shapes_and_fix():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but the weight \(6, 1, 5, 5\) with groups=1 expects 1"):
        F.conv2d(mg.zeros(1, 3, 8, 8), mg.zeros(6, 1, 5, 5))
    with pytest.raises(ValueError, match=r"the kernel \(5, 5\) .* does not fit the input of spatial size \(3, 3\)"):
        nn.Conv2d(1, 1, 5)(mg.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"must both be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)


# -- pooling ------------------------------------------------------------------------------------------
MAXPOOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2), dict(kernel_size=3, stride=1, padding=1),
           dict(kernel_size=(2, 3), stride=(2, 1), dilation=(2, 1)), dict(kernel_size=3, stride=2, ceil_mode=True),
           dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("kwargs", MAXPOOL, ids=[str(k) for k in MAXPOOL])
def test_max_pool2d_values_indices_and_gradient(kwargs):
    x = rand(2, 3, 7, 8)
    yt, it = TF.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    yo, io = F.max_pool2d(mg.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(io.numpy(), it.numpy())
    check(yo, yt, F64)
    compare(lambda lib, a: (TF if lib.torch else F).max_pool2d(a, **kwargs) ** 2, [x], second_order=True)
    ours = nn.MaxPool2d(**kwargs)
    assert repr(ours) == repr(torch.nn.MaxPool2d(**kwargs))


def test_max_pool_ties_go_to_the_first_element_and_1d():
    x = np.array([[[1.0, 3.0, 3.0, 0.0, 2.0, 2.0]]])
    compare(lambda lib, a: (TF if lib.torch else F).max_pool1d(a, 2, 2), [x])
    nan = np.array([[[1.0, np.nan, 3.0, 2.0, np.nan, np.nan, 0.5, 4.0]]])  # a NaN wins, as in torch
    _, it = TF.max_pool1d(torch.tensor(nan), 3, 1, return_indices=True)
    np.testing.assert_array_equal(F.max_pool1d(mg.tensor(nan), 3, 1, return_indices=True)[1].numpy(), it.numpy())
    compare(lambda lib, a: (TF if lib.torch else F).max_pool1d(a, 3, 1, 1), [rand(2, 3, 9)])
    assert mg.gradgradcheck(lambda a: F.max_pool2d(a, 3, 1).sin(), (mg.tensor(rand(1, 2, 5, 5), requires_grad=True),))


AVGPOOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
           dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
           dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
           dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
           dict(kernel_size=(2, 3), divisor_override=4)]


@pytest.mark.parametrize("kwargs", AVGPOOL, ids=[str(k) for k in AVGPOOL])
def test_avg_pool2d(kwargs):
    compare(lambda lib, a: (TF if lib.torch else F).avg_pool2d(a, **kwargs).sin(), [rand(2, 3, 8, 7)], second_order=True)
    assert nn.AvgPool2d(**kwargs)(mg.tensor(rand(1, 1, 8, 7))).shape == torch.nn.AvgPool2d(**kwargs)(
        torch.tensor(rand(1, 1, 8, 7))).shape


def test_avg_pool1d_and_gradcheck():
    compare(lambda lib, a: (TF if lib.torch else F).avg_pool1d(a, 3, 2, 1), [rand(2, 3, 10)])
    assert mg.gradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
                        (mg.tensor(rand(1, 2, 5, 6), requires_grad=True),))


# -- normalisation --------------------------------------------------------------------------------------
def _randomise_affine(m):
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    return m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", [(lambda lib: lib.BatchNorm1d(5), (8, 5)),
                                         (lambda lib: lib.BatchNorm1d(5), (4, 5, 3)),
                                         (lambda lib: lib.BatchNorm2d(3), (4, 3, 5, 6))])
def test_batch_norm_training_and_running_statistics(make, shape, dtype):
    theirs = _randomise_affine(make(torch.nn))
    run_both(lambda: make(nn), lambda: theirs, rand(*shape) * 3 + 1, dtype)
    # three more training steps, then eval: the running statistics and the eval output agree
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    ours = make(nn).to(dtype=dtype)
    theirs = make(torch.nn).to(torch_dtype)
    for i in range(3):
        x = rand(*shape, seed=10 + i) * 2 - 1
        ours(mg.tensor(x.astype(dtype)))
        theirs(torch.tensor(x, dtype=torch_dtype))
    for name, buf in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), buf.numpy(), rtol=1e-6 if dtype == F64 else 1e-5)
    assert ours.num_batches_tracked.item() == 3 and ours.num_batches_tracked.dtype == mg.int64
    ours.eval()
    theirs.eval()
    run_both(lambda: ours, lambda: theirs, rand(*shape, seed=20), dtype)


@pytest.mark.parametrize("kwargs", [dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                    dict(momentum=0.5, eps=1e-3)])
def test_batch_norm_options(kwargs):
    ours, theirs = nn.BatchNorm2d(3, **kwargs).double(), torch.nn.BatchNorm2d(3, **kwargs).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    for i in range(3):
        x = rand(4, 3, 2, 2, seed=i) + i
        check(ours(mg.tensor(x)), theirs(torch.tensor(x)), F64)
    for name, buf in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), buf.numpy(), rtol=1e-9)
    ours.eval()
    theirs.eval()
    check(ours(mg.tensor(rand(2, 3, 2, 2, seed=9))), theirs(torch.tensor(rand(2, 3, 2, 2, seed=9))), F64)


def test_batch_norm_loads_a_torch_state_dict_and_second_derivatives():
    theirs = torch.nn.BatchNorm1d(4).double()
    theirs(torch.tensor(rand(6, 4)))
    ours = nn.BatchNorm1d(4).double()
    copy_weights(ours, theirs)
    assert ours.num_batches_tracked.item() == 1
    compare(lambda lib, x, w, b: (TF if lib.torch else F).batch_norm(x, None, None, w, b, training=True).tanh(),
            [rand(5, 4, 3), rand(4, seed=1), rand(4, seed=2)], second_order=True)
    x = mg.tensor(rand(4, 3), requires_grad=True)
    w, b = mg.tensor(rand(3, seed=1), requires_grad=True), mg.tensor(rand(3, seed=2), requires_grad=True)
    assert mg.gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input"):
        nn.BatchNorm2d(3)(mg.zeros(2, 3))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(mg.zeros(1, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): input has 4 channels"):
        nn.BatchNorm1d(3)(mg.zeros(2, 4))


@pytest.mark.parametrize("kwargs", [dict(), dict(eps=1e-3), dict(elementwise_affine=False)])
def test_rms_norm(kwargs):
    def make_t():
        m = torch.nn.RMSNorm((3, 4), **kwargs)
        if m.weight is not None:
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
        return m

    run_both(lambda: nn.RMSNorm((3, 4), **kwargs), make_t, rand(2, 3, 4), F64)
    run_both(lambda: nn.RMSNorm((3, 4), **kwargs), make_t, rand(2, 3, 4), np.float32)
    compare(lambda lib, x, w: (TF if lib.torch else F).rms_norm(x, (4,), w, 1e-5).sin(), [rand(3, 4), rand(4, seed=1)],
            second_order=True)


# -- activations, losses, containers -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SiLU", "LeakyReLU", "Flatten"])
def test_activation_modules(name):
    kwargs = {"LeakyReLU": dict(negative_slope=0.2)}.get(name, {})
    run_both(lambda: getattr(nn, name)(**kwargs), lambda: getattr(torch.nn, name)(**kwargs), rand(3, 4, 2), F64)
    compare(lambda lib, x: getattr(lib.torch and torch.nn or nn, name)(**kwargs)(x), [rand(3, 4)], second_order=True)


def test_leaky_relu_at_zero_takes_the_slope_as_torch():
    compare(lambda lib, x: (TF if lib.torch else F).leaky_relu(x, 0.1), [np.array([-1.0, 0.0, 2.0])])


@pytest.mark.parametrize("kwargs", [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=True),
                                    dict(pos_weight=True), dict(weight=True, pos_weight=True, reduction="sum")])
def test_bce_with_logits_loss(kwargs):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    w, pw = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 2, 3)
    kt = {k: (torch.tensor(w if k == "weight" else pw) if v is True else v) for k, v in kwargs.items()}
    ko = {k: (mg.tensor(w if k == "weight" else pw) if v is True else v) for k, v in kwargs.items()}
    ours, theirs = nn.BCEWithLogitsLoss(**ko), torch.nn.BCEWithLogitsLoss(**kt)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(lambda lib, a, t: (theirs if lib.torch else ours)(a, t), [x, y], second_order=True)


def test_mse_loss_module():
    for reduction in ("mean", "sum", "none"):
        compare(lambda lib, a, b: (torch.nn if lib.torch else nn).MSELoss(reduction=reduction)(a, b),
                [rand(3, 4), rand(3, 4, seed=1)], second_order=True)


def test_parameter_list_and_dict_register_like_torch():
    def build(lib):
        class Model(lib.Module):
            def __init__(self):
                super().__init__()
                self.scales = lib.ParameterList([lib.Parameter(lib_tensor(lib, np.ones(2))) for _ in range(3)])
                self.table = lib.ParameterDict({"a": lib.Parameter(lib_tensor(lib, np.zeros(3))),
                                                "b": lib.Parameter(lib_tensor(lib, np.ones((2, 2))))})
                self.scales.append(lib.Parameter(lib_tensor(lib, np.full(2, 2.0))))

            def forward(self, x):
                y = x
                for s in self.scales:
                    y = y * s
                return y.sum() + self.table["a"].sum() + (self.table["b"] * 3).sum()

        return Model()

    def lib_tensor(lib, a):
        return torch.tensor(a) if lib is torch.nn else mg.tensor(a)

    ours, theirs = build(nn), build(torch.nn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours.scales) == 4 and "a" in ours.table and list(ours.table.keys()) == ["a", "b"]
    out = ours(mg.tensor(np.ones(2)))
    out.backward()
    np.testing.assert_array_equal(ours.table["b"].grad.numpy(), np.full((2, 2), 3.0))
    np.testing.assert_array_equal(ours.scales[0].grad.numpy(), np.full(2, 2.0))
    with pytest.raises(TypeError, match="ParameterList.append: expected a Parameter or a Tensor"):
        ours.scales.append(3.0)
