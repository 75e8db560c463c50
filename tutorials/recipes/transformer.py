"""Training the Transformer of models/transformer.py on lesson 5's synthetic translation task: the
paper's warm-up learning rate (noam_lr), length-sorted batches, label smoothing, and exact match by
source length."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

import minigrad as mg
from minigrad.data.translation import PAD_ID
from minigrad.nn import functional as F
from minigrad.optim import Adam, clip_grad_norm_
from minigrad.optim.lr_scheduler import LambdaLR
from minigrad.train import Budget
from minigrad_models.transformer import Seq2SeqConfig, TransformerSeq2Seq


# -- training --------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    steps: int = 3000
    seconds: float | None = None       # stop after this much wall clock if `steps` take longer
    batch_size: int = 64
    lr_scale: float = 1.0              # the paper's lr = scale * d^-0.5 * min(step^-0.5, step * warmup^-1.5)
    warmup: int = 400
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 250


def noam_lr(step, d_model, warmup, scale=1.0):
    """Vaswani et al.'s schedule: a linear warm-up, then decay with 1/sqrt(step). step counts from 1."""
    step = max(step, 1)
    return scale * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def length_sorted_batches(task, pairs, batch_size, rng, pool=50):
    """Batches of similar source lengths (less padding, so faster), in random order: shuffle,
    sort each pool of `pool` batches by length, cut it into batches, shuffle the batches."""
    order = rng.permutation(len(pairs))
    chunks = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start:start + batch_size * pool], key=lambda i: len(pairs[i][0]))
        chunks += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    for j in rng.permutation(len(chunks)):
        yield next(task.batches([pairs[i] for i in chunks[j]], batch_size))


def train_transformer(task, train_pairs, config: Seq2SeqConfig | None = None, train_config: TrainConfig | None = None,
                      log=print, callback=None, desc="transformer"):
    """Train on (source, target) token pairs; returns (model, history).
    With train_config.seconds, training stops when the time is up, and the warm-up and decay
    follow the share of the time spent (minigrad.train.Budget.schedule) instead of the step.
    callback(step, model), if given, runs after every update (e.g. to evaluate on the way)."""
    tc = train_config or TrainConfig()
    mg.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    model = TransformerSeq2Seq.for_task(task, config)
    d = model.config.d_model
    opt = Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = LambdaLR(opt, lambda it: noam_lr(it + 1, d, tc.warmup, tc.lr_scale))
    history = {"step": [], "loss": [], "lr": [], "tokens": 0, "sentences": 0, "train_time": 0.0}
    budget = Budget(tc.steps, tc.seconds, desc=desc)
    model.train()
    while budget.running():
        for batch in length_sorted_batches(task, train_pairs, tc.batch_size, rng):
            logits = model(batch.src, batch.tgt_in)
            target = model._ids(batch.tgt_out.reshape(-1), "tgt_out")
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target,
                                   ignore_index=PAD_ID, label_smoothing=tc.label_smoothing)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), tc.grad_clip)
            history["lr"].append(opt.param_groups[0]["lr"])
            opt.step()
            history["loss"].append(loss.item())
            budget.tick(history["loss"][-1])
            if tc.seconds is None:
                sched.step()
            else:
                budget.schedule(sched, tc.steps)
            step = budget.step
            history["step"].append(step)
            history["tokens"] += int((batch.tgt_out != PAD_ID).sum())
            history["sentences"] += len(batch.src)
            if log and (step % tc.log_every == 0 or not budget.running()):
                recent = float(np.mean(history["loss"][-tc.log_every:]))
                line = f"step {step}/{tc.steps}: loss {recent:.4f} ({budget.elapsed:.0f} s)"
                budget.write(line) if log is print else log(line)
            if callback is not None:
                callback(step, model)
            if not budget.running():
                break
    budget.close()
    history["train_time"] = budget.elapsed
    history["config"], history["train_config"] = asdict(model.config), asdict(tc)
    return model, history


# -- evaluation ----------------------------------------------------------------------------------------
def dataset_loss(model, task, pairs, batch_size=200):
    """Mean nats per target token with teacher forcing (no label smoothing), as
    recipes.seq2seq.dataset_loss scores the recurrent models."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with mg.no_grad():
        for batch in task.batches(pairs, batch_size):
            logits = model(batch.src, batch.tgt_in)
            target = model._ids(batch.tgt_out.reshape(-1), "tgt_out")
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target,
                                     ignore_index=PAD_ID, reduction="sum").item()
            count += int((batch.tgt_out != PAD_ID).sum())
    model.train(was_training)
    return total / count


def evaluate_by_length(model, task, pairs, batch_size=200):
    """Exact-match and token accuracy by source-length bucket, exactly as lesson 5 scores the
    recurrent models: recipes.seq2seq.evaluate (the task's length buckets, greedy decoding)."""
    from .seq2seq import evaluate

    return evaluate(model, task, pairs, batch_size=batch_size, decoder="greedy")
