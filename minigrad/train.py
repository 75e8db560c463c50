"""Training helpers that the models and lessons share: a progress bar, a loss estimate, a loop.

    history = train_lm(model, optimizer, get_batch, max_iters=2000,
                       scheduler=WarmupCosineLR(optimizer, 100, 2000, min_lr=1e-4),
                       grad_clip=1.0, eval_interval=250)
    history["val_loss"][-1]

`get_batch(split)` returns a batch `(x, y)` of token ids for split "train" or "val" (numpy
arrays or Tensors), as in nanoGPT. The loop is the usual one, written out so a reader can
follow it: forward, loss, backward, clip, step, schedule.

Output: a tqdm bar (loss, tokens/s) when tqdm is installed and the output is a terminal;
a plain line every so often otherwise (a log file); nothing at all when MINIGRAD_QUIET=1 or
when the test suite runs without a terminal.
"""
from __future__ import annotations

import math
import os
import sys
import time

from .autograd import no_grad
from .tensor import Tensor


# -- progress ------------------------------------------------------------------------------------
def quiet() -> bool:
    """True when training output should be suppressed: MINIGRAD_QUIET=1, or pytest without a tty."""
    if os.environ.get("MINIGRAD_QUIET", "").lower() in ("1", "true", "yes"):
        return True
    return "PYTEST_CURRENT_TEST" in os.environ and not _is_tty()


def _is_tty() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


class _PlainProgress:
    """tqdm's interface (iterate, set_postfix, close) printing a line every ~10% or 30 s."""

    def __init__(self, iterable, total=None, desc=None, disable=False, min_interval=30.0):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc = desc or ""
        self.disable = disable
        self.min_interval = min_interval
        self.postfix = ""
        self.n = 0
        self._every = max(1, self.total // 10) if self.total else None
        self._last_print = time.perf_counter()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1
            self._maybe_print()

    def _maybe_print(self):
        if self.disable:
            return
        now = time.perf_counter()
        on_count = self._every is not None and (self.n % self._every == 0 or self.n == self.total)
        if on_count or now - self._last_print >= self.min_interval:
            self._last_print = now
            count = f"{self.n}/{self.total}" if self.total else str(self.n)
            head = f"{self.desc}: " if self.desc else ""
            print(f"{head}{count}" + (f" {self.postfix}" if self.postfix else ""), flush=True)

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def write(self, line):
        if not self.disable:
            print(line, flush=True)

    def close(self):
        pass


def progress(iterable, total=None, desc=None, disable=None):
    """Wrap an iterable in a progress display: tqdm on a terminal, plain periodic lines
    otherwise. disable=None decides from the environment (see `quiet`). The result has
    tqdm's `set_postfix(loss=..., ...)`, `write(line)` and `close()`."""
    if disable is None:
        disable = quiet()
    if not disable and _is_tty():
        try:
            from tqdm.auto import tqdm  # noqa: PLC0415  (optional dependency)
        except ImportError:
            pass
        else:
            return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True)
    return _PlainProgress(iterable, total=total, desc=desc, disable=disable)


# -- losses --------------------------------------------------------------------------------------
def next_token_loss(model, x, y):
    """Cross-entropy of model(x)'s logits (B, T, V) against the next tokens y (B, T).
    A model that returns (logits, ...) is fine too."""
    from .nn import functional as F  # noqa: PLC0415  (train sits above nn)

    logits = model(x)
    if isinstance(logits, tuple):
        logits = logits[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _device_of(model):
    for p in model.parameters():
        return p.device
    return "cpu"


def _as_tensor(batch, device):
    return tuple(b.to(device) if isinstance(b, Tensor) else Tensor(b, device=device) for b in batch)


def estimate_loss(model, get_batch, eval_iters: int, splits=("train", "val"), loss_fn=None) -> dict:
    """The mean loss over `eval_iters` batches of each split, without building graph and with
    the model in eval mode (dropout off); the model's mode is restored afterwards.
    Less noisy than one batch's loss: nanoGPT's estimate_loss."""
    if eval_iters < 1:
        raise ValueError(f"estimate_loss: eval_iters must be >= 1, got {eval_iters}")
    loss_fn = loss_fn or next_token_loss
    device = _device_of(model)
    was_training = model.training
    model.eval()
    out = {}
    try:
        with no_grad():
            for split in splits:
                total = 0.0
                for _ in range(eval_iters):
                    x, y = _as_tensor(get_batch(split), device)
                    total += loss_fn(model, x, y).item()
                out[split] = total / eval_iters
    finally:
        model.train(was_training)
    return out


# -- the loop ------------------------------------------------------------------------------------
def train_lm(model, optimizer, get_batch, max_iters: int, *, scheduler=None, grad_clip=None,
             eval_interval=None, eval_iters: int = 20, loss_fn=None, log=True, desc="train",
             progress_bar=None) -> dict:
    """Train a language model for `max_iters` updates; return its history.

    Each iteration: a "train" batch, loss_fn(model, x, y) (default: next_token_loss), backward,
    clip_grad_norm_ to `grad_clip` if given, optimizer.step(), scheduler.step() if given.
    Every `eval_interval` iterations (and at the start and end) the loss is estimated on the
    "train" and "val" splits over `eval_iters` batches. `log`: True prints those evaluations
    (unless quiet), False/None stays silent, a callable receives each line.

    History: iter, loss, lr (one entry per iteration: the batch loss and the lr it used);
    eval_iter, train_loss, val_loss (one per evaluation); tokens_per_s (training steps only,
    evaluations excluded), wall_time (seconds, everything included).
    progress_bar: None decides from the environment (see `progress`), True/False forces it.
    """
    from .optim import clip_grad_norm_  # noqa: PLC0415

    if max_iters < 0:
        raise ValueError(f"train_lm: max_iters must be >= 0, got {max_iters}")
    if eval_interval is not None and eval_interval < 1:
        raise ValueError(f"train_lm: eval_interval must be >= 1 (or None for no evaluation), got {eval_interval}")
    loss_fn = loss_fn or next_token_loss
    if log is True:
        log = None if quiet() else print
    elif not log:
        log = None
    device = _device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    history = {"iter": [], "loss": [], "lr": [], "eval_iter": [], "train_loss": [], "val_loss": [],
               "tokens_per_s": math.nan, "wall_time": 0.0}

    def evaluate(it, bar=None):
        losses = estimate_loss(model, get_batch, eval_iters, loss_fn=loss_fn)
        history["eval_iter"].append(it)
        history["train_loss"].append(losses["train"])
        history["val_loss"].append(losses["val"])
        if log is not None:
            line = f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
            if bar is not None and log is print:
                bar.write(line)  # printed above the tqdm bar instead of through it
            else:
                log(line)

    model.train()
    start = time.perf_counter()
    train_seconds = 0.0
    tokens = 0
    # progress_bar None: decide from the environment; True/False: force the bar on/off
    disable = None if progress_bar is None else not progress_bar
    bar = progress(range(max_iters), total=max_iters, desc=desc, disable=disable)
    for it in bar:
        if eval_interval is not None and it % eval_interval == 0:
            evaluate(it, bar)
        t0 = time.perf_counter()
        x, y = _as_tensor(get_batch("train"), device)
        lr = optimizer.param_groups[0]["lr"]
        loss = loss_fn(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_value = loss.item()
        train_seconds += time.perf_counter() - t0
        tokens += x.numel()

        history["iter"].append(it)
        history["loss"].append(loss_value)
        history["lr"].append(lr)
        bar.set_postfix(loss=f"{loss_value:.4f}", tok_per_s=f"{tokens / train_seconds:,.0f}")
    bar.close()
    if eval_interval is not None and max_iters > 0:
        evaluate(max_iters)
    history["wall_time"] = time.perf_counter() - start
    history["tokens_per_s"] = tokens / train_seconds if train_seconds > 0 else math.nan
    return history
