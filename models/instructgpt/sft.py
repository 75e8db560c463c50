"""Step 1, supervised fine-tuning (SFT): imitate the demonstrations, loss on the response only.

    L_SFT = - mean over response tokens y_j of log pi(y_j | x, y_<j)

The prompt x is context, not something to learn to write: its positions get target -1, which
GPT.forward's cross-entropy ignores (`SequenceBatch.lm_targets`). Everything else is ordinary
next-token training, starting from the base model's weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

import minigrad as mg
from minigrad.optim import clip_grad_norm_
from minigrad.optim.lr_scheduler import WarmupCosineLR
from minigrad.train import Budget

from .sequences import SequenceBatch, encode_pairs


@dataclass
class SFTConfig:
    steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seconds: float | None = None    # a wall-clock budget: stop there if the steps take longer


def sft_loss(model, batch: SequenceBatch):
    """Mean cross-entropy over the response tokens only (prompt positions are ignored)."""
    _, loss = model(batch.idx, batch.lm_targets())
    return loss


def train_sft(model, tokenizer, demonstrations: Sequence[tuple[str, str]], config: SFTConfig,
              seed: int = 0, progress: bool | None = None) -> dict:
    """Fine-tune `model` (a GPT, in place) on (prompt, response) pairs, for config.steps updates or
    config.seconds, whichever ends first; returns {"loss": [...], "steps": updates run}."""
    if not demonstrations:
        raise ValueError("train_sft: no demonstrations")
    rng = np.random.default_rng([seed, 2])
    block = model.config.block_size
    optimizer = model.configure_optimizers(config.weight_decay, config.learning_rate, betas=(0.9, 0.99))
    scheduler = WarmupCosineLR(optimizer, config.warmup, max(config.steps, config.warmup + 1),
                               min_lr=config.min_lr)
    params = [p for p in model.parameters() if p.requires_grad]
    history = {"loss": []}
    model.train()
    budget = Budget(config.steps, config.seconds, desc="sft", disable=None if progress is None or progress else True)
    while budget.running():
        rows = rng.integers(len(demonstrations), size=config.batch_size)
        batch = encode_pairs(tokenizer, [demonstrations[i][0] for i in rows],
                             [demonstrations[i][1] for i in rows], block)
        loss = sft_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        history["loss"].append(loss.item())
        budget.tick(history["loss"][-1])
        if config.seconds is None:
            scheduler.step()
        else:   # the schedule written for config.steps, run over the updates that fit in the time
            budget.schedule(scheduler, config.steps)
    budget.close()
    history["steps"] = budget.step
    return history


@mg.no_grad()
def sft_eval_loss(model, tokenizer, demonstrations, batch_size: int = 64) -> float:
    """The response-token cross-entropy on held-out demonstrations (eval mode, no graph)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(demonstrations), batch_size):
            chunk = demonstrations[start:start + batch_size]
            batch = encode_pairs(tokenizer, [p for p, _ in chunk], [r for _, r in chunk],
                                 model.config.block_size)
            n = int(batch.response_lens.sum())
            total += sft_loss(model, batch).item() * n
            count += n
    finally:
        model.train(was_training)
    return total / count
