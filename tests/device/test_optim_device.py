"""Each optimizer, scheduler and gradient clipping on the device: three steps of a small model
against the same steps on the CPU, with nothing crossing the bus during a step."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim import lr_scheduler

import standin

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_nesterov_decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd_dampening_maximize": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.2, maximize=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adam_amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, betas=(0.9, 0.95)),
}
SCHEDULERS = {
    "lambda": lambda o: lr_scheduler.LambdaLR(o, lambda it: 1 / (it + 1)),
    "step": lambda o: lr_scheduler.StepLR(o, step_size=1, gamma=0.5),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=3),
    "linear": lambda o: lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=2),
    "warmup_cosine": lambda o: lr_scheduler.WarmupCosineLR(o, warmup_iters=1, max_iters=3, min_lr=1e-3),
}


def _model(device):
    mg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double().to(device)


def _batch(device, step):
    rng = np.random.default_rng(step)
    return mg.tensor(rng.standard_normal((6, 4)), device=device), mg.tensor(rng.integers(0, 3, 6), device=device)


def train_steps(device, make_optimizer, make_scheduler=None, clip=None, steps=3, log_transfers=False):
    model = _model(device)
    opt = make_optimizer(model.parameters())
    sched = make_scheduler(opt) if make_scheduler else None
    batches = [_batch(device, s) for s in range(steps)]
    logs = []
    for x, y in batches:
        with standin.transfers() as log:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            if clip == "norm":
                optim.clip_grad_norm_(model.parameters(), 0.1)
            elif clip == "value":
                optim.clip_grad_value_(model.parameters(), 0.01)
            opt.step()
            if sched is not None:
                sched.step()
        logs.append(log)
    result = {f"param_{n}": p for n, p in model.named_parameters()}
    result.update({f"state{i}_{k}": v for i, s in opt.state_dict()["state"].items() for k, v in s.items()
                   if isinstance(v, np.ndarray)})
    result["lr"] = np.array([g["lr"] for g in opt.param_groups])
    return (result, logs) if log_transfers else result


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_on_the_device(name, same_on_device):
    same_on_device(lambda dev: train_steps(dev, OPTIMIZERS[name]))


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_steps_with_an_optimizer_on_the_device(name, same_on_device):
    same_on_device(lambda dev: train_steps(dev, OPTIMIZERS["adamw"], SCHEDULERS[name]))


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_gradient_clipping_on_the_device(clip, same_on_device):
    same_on_device(lambda dev: train_steps(dev, OPTIMIZERS["sgd"], clip=clip))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_training_step_copies_nothing_between_host_and_device(name, device, standin_only):
    """Forward, backward, clip_grad_norm_, step and scheduler: no transfer (clip_grad_norm_ used to
    read the norm with float(), a sync every step)."""
    _, logs = train_steps(device, OPTIMIZERS[name], SCHEDULERS["warmup_cosine"], clip="norm", log_transfers=True)
    for log in logs:
        assert log.to_device == [] and log.to_host == [], log


def test_clip_grad_norm_returns_the_norm_on_the_device_and_clips(device):
    p = mg.tensor([3.0, 4.0], device=device, requires_grad=True)
    (p * p / 2).sum().backward()  # grad = p, norm 5
    total = optim.clip_grad_norm_([p], 1.0)
    assert total.device == "cuda" and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    with pytest.raises(RuntimeError, match="total norm .* is nan"):
        p.grad = mg.tensor([np.nan, 1.0], device=device)
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_optimizer_state_dict_round_trip_from_the_device(device):
    model = _model(device)
    opt = optim.AdamW(model.parameters(), lr=0.01)
    x, y = _batch(device, 0)
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    state = opt.state_dict()
    assert all(isinstance(v, np.ndarray) for s in state["state"].values() for k, v in s.items() if k != "step")
    fresh = optim.AdamW(_model(device).parameters(), lr=0.01)
    fresh.load_state_dict(state)
    for s in fresh.state.values():
        assert s["exp_avg"].__class__ is model[0].weight.data.__class__  # back on the device
