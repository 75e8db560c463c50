"""minigrad.optim: optimizers, learning-rate schedules and gradient clipping (PyTorch's names).

    optimizer = optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    scheduler = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup_iters=100, max_iters=5000, min_lr=3e-5)
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step(); optimizer.zero_grad(); scheduler.step()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "clip_grad_norm_", "clip_grad_value_"]
