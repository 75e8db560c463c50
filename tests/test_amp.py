"""minigrad.amp on the CPU: GradScaler against torch.amp.GradScaler on the same sequence of finite and
infinite gradients, its misuse errors, and autocast's CPU behaviour (no effect) and arguments.
autocast's dtype rules on a device are checked against PyTorch's in tests/device/test_amp_device.py."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import amp, nn, optim

torch = pytest.importorskip("torch")

# the unscaled gradient of each step: finite ones, an overflow, a NaN, and long enough clean runs for
# the scale to grow (growth_interval 3)
STEPS = ["ok", "ok", "inf", "ok", "ok", "ok", "ok", "nan", "ok", "ok", "ok", "-inf", "ok"]


def gradient(step, kind):
    g = np.random.default_rng(step).standard_normal((2, 3)).astype(np.float32)
    if kind != "ok":
        g[1, step % 3] = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan}[kind]
    return g


@pytest.mark.parametrize("make_optimizer", ["SGD", "AdamW"])
def test_grad_scaler_skips_and_rescales_as_torch_does(make_optimizer):
    init = np.random.default_rng(99).standard_normal((2, 3)).astype(np.float32)
    settings = dict(init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    ours, theirs = mg.tensor(init.copy(), requires_grad=True), torch.tensor(init.copy(), requires_grad=True)
    opt = getattr(optim, make_optimizer)([ours], lr=0.1)
    ref = getattr(torch.optim, make_optimizer)([theirs], lr=0.1)
    scaler, ref_scaler = amp.GradScaler("cpu", **settings), torch.amp.GradScaler("cpu", **settings)
    scales = []
    for step, kind in enumerate(STEPS):
        g = gradient(step, kind)
        # what backward of scaler.scale(loss) gives: the gradient times the scale (inf stays inf)
        w = mg.tensor(g, requires_grad=False)
        scaler.scale((ours * w).sum()).backward()
        ref_scaler.scale((theirs * torch.tensor(g)).sum()).backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
        before = ours.numpy().copy()
        assert (scaler.step(opt) is None) and (ref_scaler.step(ref) is None)
        scaler.update()
        ref_scaler.update()
        stepped = not np.array_equal(ours.numpy(), before)
        assert stepped == (kind == "ok"), (step, kind)  # an inf or NaN anywhere skips the whole step
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-7, err_msg=str(step))
        assert scaler.get_scale() == ref_scaler.get_scale(), step
        assert scaler.state_dict() == ref_scaler.state_dict(), step
        scales.append(scaler.get_scale())
        opt.zero_grad()
        ref.zero_grad()
    # by hand: 1024, 1024, 512 (inf), 512, 512, 1024 (3 clean steps), 1024, 512 (nan), ...
    assert scales[:8] == [1024.0, 1024.0, 512.0, 512.0, 512.0, 1024.0, 1024.0, 512.0]


def test_unscale_then_clip_then_step_reads_unscaled_gradients():
    p = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    scaler = amp.GradScaler(init_scale=256.0)
    loss = (p * mg.tensor([4.0, 0.0, -2.0])).sum()
    assert scaler.scale(loss).item() == pytest.approx(256.0 * loss.item())
    scaler.scale(loss).backward()
    np.testing.assert_array_equal(p.grad.numpy(), [1024.0, 0.0, -512.0])
    scaler.unscale_(opt)
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 0.0, -2.0])
    scaler.step(opt)  # does not unscale twice
    np.testing.assert_array_equal(p.numpy(), [-3.0, 2.0, 5.0])
    scaler.update()


def test_grad_scaler_misuse_is_refused_as_torch_refuses_it():
    p = mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    scaler = amp.GradScaler()
    with pytest.raises(RuntimeError, match="no inf checks were recorded"):
        scaler.update()
    p.grad = mg.tensor([1.0])
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    half = mg.tensor([1.0], dtype=mg.float16, requires_grad=True)
    half.grad = mg.tensor([1.0], dtype=mg.float16)
    with pytest.raises(ValueError, match="float16 gradients"):
        scaler.unscale_(optim.SGD([half], lr=0.1))
    with pytest.raises(RuntimeError, match="closure"):
        scaler.step(opt, closure=lambda: None)
    with pytest.raises(ValueError, match="growth_factor"):
        amp.GradScaler(growth_factor=1.0)


def test_a_disabled_scaler_passes_everything_through():
    p = mg.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    scaler = amp.GradScaler(enabled=False)
    loss = (p * p).sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss.backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])


def test_the_scaler_state_round_trips():
    scaler = amp.GradScaler(init_scale=64.0, growth_interval=5)
    scaler._growth_tracker = 3
    other = amp.GradScaler()
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == scaler.state_dict() == {"scale": 64.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                                          "growth_interval": 5, "_growth_tracker": 3}
    with pytest.raises(RuntimeError, match="empty"):
        other.load_state_dict({})


def test_autocast_changes_nothing_on_the_cpu():
    mg.manual_seed(0)
    layer = nn.Linear(4, 3)
    x = mg.randn(2, 4)
    plain = layer(x).softmax(-1)
    for context in (amp.autocast("cpu"), amp.autocast("cuda"), mg.autocast(device_type="cpu", dtype=mg.float16)):
        with context:
            out = layer(x).softmax(-1)
            assert not amp.is_autocast_enabled("cpu")
        assert out.dtype == mg.float32
        np.testing.assert_array_equal(out.numpy(), plain.numpy())


def test_autocast_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="bfloat16"):
        amp.autocast("cuda", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="float16"):
        amp.autocast("cuda", dtype=mg.float64)
    with pytest.raises(ValueError, match="device_type"):
        amp.autocast("tpu")


def test_autocast_nests_and_restores_and_decorates():
    assert not amp.is_autocast_enabled()
    with amp.autocast():
        assert amp.is_autocast_enabled()
        with amp.autocast(enabled=False):
            assert not amp.is_autocast_enabled()
        assert amp.is_autocast_enabled()
    assert not amp.is_autocast_enabled()

    @amp.autocast()
    def inside():
        return amp.is_autocast_enabled()

    assert inside() and not amp.is_autocast_enabled()
