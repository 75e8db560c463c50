"""Training helpers that the models and lessons share: a budget with a progress bar, a loss
estimate, a loop.

    history = train_lm(model, optimizer, get_batch, max_iters=2000,
                       scheduler=WarmupCosineLR(optimizer, 100, 2000, min_lr=1e-4),
                       grad_clip=1.0, eval_interval=250)
    history["val_loss"][-1]
    train_lm(..., max_iters=2000, seconds=60)    # stop after 60 s if 2000 steps take longer

`get_batch(split)` returns a batch `(x, y)` of token ids for split "train" or "val" (numpy
arrays or Tensors), as in nanoGPT. The loop is the usual one, written out so a reader can
follow it: forward, loss, backward, clip, step, schedule.

A loop of one's own gets the same budget and bar from `Budget`:

    budget = Budget(steps=3000, seconds=60, desc="lstm")
    while budget.running():
        ...one update...
        budget.tick(loss=loss.item())
    budget.close()            # budget.step updates ran, in budget.elapsed seconds

Output: a tqdm bar (the step, the loss, the time left) when tqdm is installed and the output
is a terminal; a plain line every tenth of the run or 30 s otherwise (a log file); nothing at
all when MINIGRAD_QUIET=1 or when the test suite runs without a terminal. `progress_to(stream)`
sends the bars somewhere else (the tour sends them to the terminal while a lesson's own output
goes to its log).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time

from .autograd import no_grad
from .tensor import Tensor


# -- progress ------------------------------------------------------------------------------------
_stream = None      # where bars go; None: sys.stderr at the time a bar starts
_leave = True       # whether a finished bar stays on the screen


@contextlib.contextmanager
def progress_to(stream, leave: bool = False):
    """Draw every progress bar on `stream` while inside (whatever sys.stderr is redirected to),
    clearing each one when it ends unless `leave`."""
    global _stream, _leave
    saved = _stream, _leave
    _stream, _leave = stream, leave
    try:
        yield
    finally:
        _stream, _leave = saved


def _out():
    return _stream if _stream is not None else sys.stderr


def quiet() -> bool:
    """True when training output should be suppressed: MINIGRAD_QUIET=1, or pytest without a tty."""
    if os.environ.get("MINIGRAD_QUIET", "").lower() in ("1", "true", "yes"):
        return True
    return "PYTEST_CURRENT_TEST" in os.environ and not _is_tty()


def _is_tty() -> bool:
    out = _out()
    return hasattr(out, "isatty") and out.isatty()


def _tqdm():
    """tqdm's class when it can draw here (installed, output on a terminal), else None."""
    if not _is_tty():
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415  (optional dependency)
    except ImportError:
        return None
    return tqdm


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
            self.write(f"{head}{count}" + (f" {self.postfix}" if self.postfix else ""))

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def write(self, line):
        if not self.disable:
            print(line, file=_stream or sys.stdout, flush=True)

    def close(self):
        pass


def progress(iterable, total=None, desc=None, disable=None):
    """Wrap an iterable in a progress display: tqdm on a terminal, plain periodic lines
    otherwise. disable=None decides from the environment (see `quiet`). The result has
    tqdm's `set_postfix(loss=..., ...)`, `write(line)` and `close()`."""
    if disable is None:
        disable = quiet()
    tqdm = None if disable else _tqdm()
    if tqdm is not None:
        return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, file=_out(), leave=_leave)
    return _PlainProgress(iterable, total=total, desc=desc, disable=disable)


def clock_text(seconds: float) -> str:
    """0:07, 1:23, 12:00: minutes and seconds."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Budget:
    """How long a training loop runs, and its progress bar: `steps` updates, or until `seconds`
    of wall clock have passed, whichever comes first (give either, or both).

    A time budget is what keeps a lesson to its share of the tour on a slow or busy machine; the
    number of updates that fit is then the machine's business, and `step` says how many ran.
    `fraction()` is the share of the budget spent, by steps or by time, whichever is further:
    a loop that schedules its learning rate by it (see `schedule`) ends its warm-up and decay
    within the budget, however many updates that turns out to be.

    The bar shows the percentage of the budget, the time spent and left, the step and the last
    loss; the clock starts when the Budget is made. `desc` names the loop.
    """

    def __init__(self, steps: int | None = None, seconds: float | None = None, desc: str = "train",
                 disable: bool | None = None):
        if steps is None and seconds is None:
            raise ValueError(f"{desc}: give a budget of steps=, seconds= or both")
        if steps is not None and (int(steps) != steps or steps < 0):
            raise ValueError(f"{desc}: steps must be a whole number >= 0, got {steps!r}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"{desc}: seconds must be > 0, got {seconds!r}")
        self.steps, self.seconds, self.desc = steps, seconds, desc
        self.step = 0
        self.loss = math.nan
        if disable is None:
            disable = quiet()
        tqdm = None if disable else _tqdm()
        self._bar = None
        if tqdm is not None:   # the status rides in tqdm's free-form {unit} field (its {postfix} adds a comma)
            self._bar = tqdm(total=1000, desc=desc, dynamic_ncols=True, file=_out(), leave=_leave, unit="",
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {unit}")
        self._plain = not disable and self._bar is None
        self._shown = 0      # the bar's position, in thousandths
        self._last_line = 0      # the last tenth of the budget a plain line was printed at
        self._t0 = time.perf_counter()
        self._last_print = self._t0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def fraction(self) -> float:
        by_steps = self.step / self.steps if self.steps else (1.0 if self.steps == 0 else 0.0)
        by_time = self.elapsed / self.seconds if self.seconds else 0.0
        return min(1.0, max(by_steps, by_time))

    def running(self) -> bool:
        """True while there is budget left for another update."""
        return (self.steps is None or self.step < self.steps) and (self.seconds is None or self.elapsed < self.seconds)

    def schedule(self, scheduler, horizon: int) -> None:
        """Put `scheduler` (any of minigrad.optim's, written in closed form) where it would be after
        fraction() * horizon of its steps: a time budget runs the schedule meant for `horizon`
        updates over the updates that fit."""
        scheduler.last_epoch = round(self.fraction() * horizon) - 1
        scheduler.step()

    def status(self) -> str:
        """step 120/3000, loss 1.9345, 0:24 of 1:00"""
        steps = f"step {self.step}" + (f"/{self.steps}" if self.steps is not None else "")
        loss = "" if math.isnan(self.loss) else f", loss {self.loss:.4f}"
        elapsed, fraction = self.elapsed, self.fraction()
        if self.seconds is not None and fraction == elapsed / self.seconds:
            left = self.seconds - elapsed
        else:   # the steps run out first: estimate from the pace so far
            left = elapsed * (1 - fraction) / fraction if fraction > 0 else math.nan
        clock = f"{clock_text(elapsed)} spent" + ("" if math.isnan(left) else f", {clock_text(left)} left")
        return f"{steps}{loss}, {clock}"

    def tick(self, loss: float | None = None) -> None:
        """One update done (its loss, a float, shown on the bar)."""
        self.step += 1
        if loss is not None:
            self.loss = float(loss)
        if self._bar is not None:
            shown = int(1000 * self.fraction())
            now = time.perf_counter()
            if shown > self._shown or now - self._last_print > 0.5:
                self._bar.unit = self.status()
                self._bar.update(shown - self._shown)
                self._shown, self._last_print = shown, now
        elif self._plain:
            now = time.perf_counter()
            tenth = math.floor(10 * self.fraction())
            if tenth > self._last_line or now - self._last_print >= 30:
                self._last_line, self._last_print = tenth, now
                self.write(f"{self.desc}: {10 * tenth}% {self.status()}")

    def write(self, line: str) -> None:
        """A line above the bar (or a plain line)."""
        if self._bar is not None:
            self._bar.write(line, file=_out())
        elif self._plain:
            print(line, file=_stream or sys.stdout, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.unit = self.status()
            self._bar.update(int(1000 * self.fraction()) - self._shown)
            self._bar.close()
            self._bar = None


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
def train_lm(model, optimizer, get_batch, max_iters: int, *, seconds: float | None = None, scheduler=None,
             grad_clip=None, eval_interval=None, eval_iters: int = 20, loss_fn=None, log=True, desc="train",
             progress_bar=None, start_step: int = 0, on_stop=None) -> dict:
    """Train a language model for `max_iters` updates, or until `seconds` of wall clock have
    passed if that comes first; return its history.

    Each iteration: a "train" batch, loss_fn(model, x, y) (default: next_token_loss), backward,
    clip_grad_norm_ to `grad_clip` if given, optimizer.step(), scheduler.step() if given. With
    `seconds`, the scheduler instead follows the share of the budget spent (Budget.schedule):
    the schedule written for `max_iters` updates is run over those that fit in the time.
    Every `eval_interval` iterations (and at the start and end) the loss is estimated on the
    "train" and "val" splits over `eval_iters` batches. `log`: True prints those evaluations
    (unless quiet), False/None stays silent, a callable receives each line.

    History: iter, loss, lr (one entry per iteration: the batch loss and the lr it used);
    eval_iter, train_loss, val_loss (one per evaluation); steps (updates run), tokens_per_s
    (training steps only, evaluations excluded), wall_time (seconds, everything included).
    progress_bar: None decides from the environment (see `progress`), True/False forces it.

    Resuming: start_step=k continues a run stopped after k updates (the model, optimizer,
    scheduler and random states restored by the caller) and runs updates k .. max_iters - 1,
    evaluating where the uninterrupted run would. on_stop(step) is called after the last update
    and before the closing evaluation: what a checkpoint to resume from saves then (the closing
    evaluation draws batches the uninterrupted run does not), the two runs stay identical.
    """
    from .optim import clip_grad_norm_  # noqa: PLC0415

    if max_iters < 0:
        raise ValueError(f"train_lm: max_iters must be >= 0, got {max_iters}")
    if eval_interval is not None and eval_interval < 1:
        raise ValueError(f"train_lm: eval_interval must be >= 1 (or None for no evaluation), got {eval_interval}")
    if not 0 <= start_step <= max_iters:
        raise ValueError(f"train_lm: start_step must be in [0, max_iters={max_iters}], got {start_step}")
    if start_step and seconds is not None:
        raise ValueError("train_lm: resuming (start_step > 0) needs a budget of steps: with seconds= the schedule "
                         "follows the clock, which a resumed run cannot repeat")
    loss_fn = loss_fn or next_token_loss
    if log is True:
        log = None if quiet() else print
    elif not log:
        log = None
    device = _device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    history = {"iter": [], "loss": [], "lr": [], "eval_iter": [], "train_loss": [], "val_loss": [], "steps": 0,
               "tokens_per_s": math.nan, "wall_time": 0.0}

    def evaluate(it, budget=None):
        losses = estimate_loss(model, get_batch, eval_iters, loss_fn=loss_fn)
        history["eval_iter"].append(it)
        history["train_loss"].append(losses["train"])
        history["val_loss"].append(losses["val"])
        if log is not None:
            line = f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
            if budget is not None and log is print:
                budget.write(line)  # printed above the bar instead of through it
            else:
                log(line)

    model.train()
    train_seconds = 0.0
    tokens = 0
    # progress_bar None: decide from the environment; True/False: force the bar on/off
    budget = Budget(max_iters - start_step, seconds, desc=desc,
                    disable=None if progress_bar is None else not progress_bar)
    while budget.running():
        it = start_step + budget.step
        if eval_interval is not None and it % eval_interval == 0:
            evaluate(it, budget)
        t0 = time.perf_counter()
        x, y = _as_tensor(get_batch("train"), device)
        lr = optimizer.param_groups[0]["lr"]
        loss = loss_fn(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            clip_grad_norm_(params, grad_clip)
        optimizer.step()
        loss_value = loss.item()
        train_seconds += time.perf_counter() - t0
        tokens += x.numel()
        history["iter"].append(it)
        history["loss"].append(loss_value)
        history["lr"].append(lr)
        budget.tick(loss_value)
        if scheduler is not None:
            if seconds is None:
                scheduler.step()
            else:
                budget.schedule(scheduler, max_iters)
    budget.close()
    if on_stop is not None:
        on_stop(start_step + budget.step)
    if eval_interval is not None and budget.step > 0:
        evaluate(start_step + budget.step)
    history["steps"] = budget.step
    history["wall_time"] = budget.elapsed
    history["tokens_per_s"] = tokens / train_seconds if train_seconds > 0 else math.nan
    return history
