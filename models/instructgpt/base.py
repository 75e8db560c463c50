"""The base model: a small character-level GPT pre-trained on plain text (GPT-3's role).

Its corpus (`InstructionTask.pretrain_text`) shows instructions only as text followed by more
questions or by chatter, never by their answers, so the base model learns the language and
the format but, asked "Q: reverse cat\\nA:", it goes on the way the corpus goes on
(" i do not know.") instead of answering: the lecture's moon-landing example.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad.data import CharTokenizer, get_batch
from minigrad.optim.lr_scheduler import WarmupCosineLR
from minigrad.train import train_lm
from minigrad_models.gpt import GPT, GPTConfig


def make_tokenizer(task) -> CharTokenizer:
    """One id per character of the task's alphabet (sorted, so ids are stable)."""
    return CharTokenizer(task.charset)


@dataclass
class PretrainConfig:
    steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    n_chars: int = 400_000      # corpus size; the task's word pool is small, so this repeats a lot
    seconds: float | None = None    # a wall-clock budget: stop there if the steps take longer


def pretrain_base(task, tokenizer, model_config: GPTConfig, config: PretrainConfig, seed: int = 0,
                  progress: bool | None = None, device: str = "cpu") -> tuple[GPT, dict]:
    """Train a fresh GPT on `task.pretrain_text` with nanoGPT's recipe, on `device`; (model, history)."""
    data = np.asarray(tokenizer.encode(task.pretrain_text(config.n_chars)), dtype=np.int64)
    split = int(0.9 * len(data))
    parts = {"train": data[:split], "val": data[split:]}
    rng = np.random.default_rng([seed, 1])
    mg.manual_seed(seed)
    model = GPT(model_config).to(device)

    def batch(which):
        return get_batch(parts[which], model_config.block_size, config.batch_size, rng)

    optimizer = model.configure_optimizers(config.weight_decay, config.learning_rate, betas=(0.9, 0.99))
    scheduler = WarmupCosineLR(optimizer, config.warmup, max(config.steps, config.warmup + 1),
                               min_lr=config.min_lr)
    history = train_lm(model, optimizer, batch, config.steps, seconds=config.seconds, scheduler=scheduler,
                       grad_clip=config.grad_clip, eval_interval=None, log=False, desc="pretrain",
                       loss_fn=lambda m, x, y: m(x, y)[1],
                       progress_bar=None if progress is None or progress else False)
    return model, history
