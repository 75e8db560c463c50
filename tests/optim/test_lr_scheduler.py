"""Learning-rate schedules against hand-worked values (PyTorch's own values: tests/parity)."""

import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim.lr_scheduler import (
    CosineAnnealingLR, LambdaLR, LinearLR, StepLR, WarmupCosineLR, nanogpt_lr,
)


def make_optimizer(*lrs):
    return optim.SGD([{"params": [mg.tensor([0.0], requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])


def lrs_over(scheduler, steps):
    """The lr of group 0 used at each of `steps` epochs (the first is set at construction)."""
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_step_lr_by_hand():
    sched = StepLR(make_optimizer(1.0), step_size=3, gamma=0.5)
    assert lrs_over(sched, 8) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_lambda_lr_one_function_per_group():
    opt = make_optimizer(1.0, 10.0)
    sched = LambdaLR(opt, [lambda e: 1.0 / (e + 1), lambda e: 0.5**e])
    for e in range(4):
        assert sched.get_last_lr() == pytest.approx([1.0 / (e + 1), 10.0 * 0.5**e])
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        sched.step()
    with pytest.raises(ValueError, match="one per parameter group"):
        LambdaLR(make_optimizer(1.0, 2.0), [lambda e: 1.0])


def test_cosine_annealing_hits_base_middle_floor_and_climbs_back():
    sched = CosineAnnealingLR(make_optimizer(1.0), T_max=10, eta_min=0.1)
    lrs = lrs_over(sched, 21)
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[5] == pytest.approx(0.55)  # halfway down: (1 + 0.1) / 2
    assert lrs[10] == pytest.approx(0.1)
    assert lrs[20] == pytest.approx(1.0)  # PyTorch's cosine goes on past T_max
    assert all(a > b for a, b in zip(lrs[:10], lrs[1:11]))


def test_linear_lr_warms_up_then_stays():
    sched = LinearLR(make_optimizer(2.0), start_factor=0.25, end_factor=1.0, total_iters=3)
    assert lrs_over(sched, 6) == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_nanogpt_lr_warmup_cosine_floor():
    lr, warm, decay, floor = 6e-4, 10, 110, 6e-5
    assert nanogpt_lr(0, lr, warm, decay, floor) == pytest.approx(lr * 1 / 11)
    assert nanogpt_lr(9, lr, warm, decay, floor) == pytest.approx(lr * 10 / 11)
    assert nanogpt_lr(10, lr, warm, decay, floor) == pytest.approx(lr)  # end of warmup: the peak
    assert nanogpt_lr(60, lr, warm, decay, floor) == pytest.approx((lr + floor) / 2)  # cosine's middle
    assert nanogpt_lr(110, lr, warm, decay, floor) == pytest.approx(floor)
    assert nanogpt_lr(5000, lr, warm, decay, floor) == floor


def test_warmup_cosine_scheduler_follows_nanogpt_lr_per_group():
    opt = make_optimizer(1.0, 0.5)
    sched = WarmupCosineLR(opt, warmup_iters=5, max_iters=30, min_lr=0.01)
    for it in range(40):
        assert sched.get_last_lr() == pytest.approx([nanogpt_lr(it, 1.0, 5, 30, 0.01),
                                                     nanogpt_lr(it, 0.5, 5, 30, 0.01)], rel=1e-15)
        sched.step()
    with pytest.raises(ValueError, match="warmup_iters < max_iters"):
        WarmupCosineLR(make_optimizer(1.0), warmup_iters=10, max_iters=10)


def test_scheduler_state_dict_resumes():
    opt = make_optimizer(1.0)
    sched = CosineAnnealingLR(opt, T_max=20)
    lrs_over(sched, 7)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 7

    opt2 = make_optimizer(1.0)
    opt2.load_state_dict(opt.state_dict())
    sched2 = CosineAnnealingLR(opt2, T_max=20)
    sched2.load_state_dict(state)
    assert lrs_over(sched2, 5) == lrs_over(sched, 5)

    lam = LambdaLR(make_optimizer(1.0), lambda e: 0.9**e)
    assert lam.state_dict()["lr_lambdas"] == [None]


def test_resuming_without_initial_lr_is_a_clear_error():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(make_optimizer(1.0), step_size=2, last_epoch=4)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(make_optimizer(1.0), step_size=0)
