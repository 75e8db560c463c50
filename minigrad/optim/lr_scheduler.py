"""Learning-rate schedules: each step() sets every parameter group's "lr" for the next epoch.

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train(...)                 # optimizer.step() inside
        scheduler.step()

As in PyTorch, building a scheduler already applies the learning rate of epoch 0, and each
group's starting lr is remembered as "initial_lr" (the schedule's base). Every schedule here
is written in closed form, lr(epoch) = f(base_lr, epoch); PyTorch computes most of them
recursively from the previous lr, which gives the same values as long as nothing else
changes the lr in between.
"""
from __future__ import annotations

import math

from .optimizer import Optimizer


class LRScheduler:
    """Base class: keeps `last_epoch` and writes `lr_at(base_lr, epoch)` into the groups."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a minigrad Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:  # resuming: the base lrs must already be recorded in the groups
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{i}] when "
                        "resuming (last_epoch != -1); load the optimizer's state_dict first"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # epoch 0 (or the resumed epoch + 1) takes effect right away

    def lr_at(self, base_lr: float, epoch: int, group_index: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rates for the current `last_epoch`, one per group."""
        return [self.lr_at(base, self.last_epoch, i) for i, base in enumerate(self.base_lrs)]

    def step(self) -> None:
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step() set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (which saves itself) and functions (which can't be saved)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); one function for all groups or a list, one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.lr_lambdas[group_index](epoch)

    def state_dict(self):
        # the functions themselves cannot be saved; PyTorch stores None in their place
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        state.pop("lr_lambdas", None)  # keep this scheduler's own functions
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): decay by gamma every step_size epochs."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Half a cosine from base_lr down to eta_min over T_max epochs; past T_max it climbs back up
    (the cosine goes on), as PyTorch's does. SGDR's warm restarts are not included.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """lr = base_lr * factor, the factor going linearly from start_factor to end_factor over
    total_iters epochs and staying at end_factor afterwards (a linear warmup, typically)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(
                f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got {start_factor}, {end_factor}"
            )
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be >= 1, got {total_iters}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


def nanogpt_lr(it: int, learning_rate: float, warmup_iters: int, lr_decay_iters: int, min_lr: float) -> float:
    """nanoGPT's get_lr: linear warmup, then cosine decay to min_lr, then min_lr.

    Warmup is learning_rate * (it + 1) / (warmup_iters + 1), so the very first step already
    moves (older nanoGPT versions used it / warmup_iters, which starts at zero).
    """
    if it < warmup_iters:  # 1) linear warmup
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:  # 2) after the decay: stay at the floor
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)  # 3) cosine from 1 to 0
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


class WarmupCosineLR(LRScheduler):
    """nanoGPT's schedule as a scheduler: lr(it) = nanogpt_lr(it, base_lr, warmup_iters, max_iters, min_lr).

    Iteration `it` trains with the lr set after `it` calls to step() (iteration 0 with the lr
    set at construction), exactly as nanoGPT sets get_lr(iter_num) before each update.
    """

    def __init__(self, optimizer, warmup_iters: int, max_iters: int, min_lr: float = 0.0, last_epoch: int = -1):
        if warmup_iters < 0 or max_iters <= warmup_iters:
            raise ValueError(
                f"WarmupCosineLR: need 0 <= warmup_iters < max_iters, got warmup_iters={warmup_iters}, "
                f"max_iters={max_iters}"
            )
        self.warmup_iters = warmup_iters
        self.max_iters = max_iters
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group_index):
        return nanogpt_lr(epoch, base_lr, self.warmup_iters, self.max_iters, self.min_lr)
