"""minigrad.train: progress output, estimate_loss, and the train_lm loop on a tiny bigram model."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd, nn, optim, train
from minigrad.data.corpora import get_batch as lm_batch
from minigrad.optim.lr_scheduler import WarmupCosineLR, nanogpt_lr

VOCAB = 8


class Bigram(nn.Module):
    """Logits for the next token from the current one, with dropout so the seed matters."""

    def __init__(self, vocab=VOCAB, dim=16, p=0.2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.drop = nn.Dropout(p)
        self.head = nn.Linear(dim, vocab)
        self.grad_mode_seen = []

    def forward(self, idx):
        self.grad_mode_seen.append(autograd.is_grad_enabled())
        return self.head(self.drop(self.embed(idx)))


def corpus(seed=0, n=2000):
    """A deterministic sequence: token t is followed by (t + 1) mod VOCAB 90% of the time."""
    rng = np.random.default_rng(seed)
    seq = [0]
    for _ in range(n - 1):
        seq.append((seq[-1] + 1) % VOCAB if rng.random() < 0.9 else int(rng.integers(VOCAB)))
    return np.array(seq, dtype=np.int64)


def batches(seed, block=8, batch=16):
    data = corpus()
    splits = {"train": data[:1600], "val": data[1600:]}
    rng = np.random.default_rng(seed)
    return lambda split: lm_batch(splits[split], block, batch, rng)


def run(seed, max_iters=30, **kwargs):
    mg.manual_seed(seed)
    model = Bigram()
    opt = optim.AdamW(model.parameters(), lr=3e-2)
    history = train.train_lm(model, opt, batches(seed), max_iters, log=False, **kwargs)
    return model, opt, history


def test_loss_falls_toward_the_corpus_entropy():
    _, _, h = run(0, max_iters=150, eval_interval=50, eval_iters=5)
    # uniform guessing costs log(8) = 2.08 nats; the corpus's own next-token entropy is
    # -0.9125 log 0.9125 - 7 * 0.0125 log 0.0125 = 0.467
    assert h["val_loss"][0] > 1.8
    assert h["val_loss"][-1] < 0.75
    assert h["eval_iter"] == [0, 50, 100, 150]
    assert h["iter"] == list(range(150)) and len(h["loss"]) == len(h["lr"]) == 150
    assert h["tokens_per_s"] > 0 and h["wall_time"] > 0


def test_seeded_runs_repeat_exactly_and_other_seeds_differ():
    _, _, a = run(1)
    _, _, b = run(1)
    _, _, c = run(2)
    assert a["loss"] == b["loss"]
    assert a["loss"] != c["loss"]


def test_scheduler_sets_the_lr_each_iteration_uses():
    mg.manual_seed(0)
    model = Bigram()
    opt = optim.SGD(model.parameters(), lr=0.5)
    sched = WarmupCosineLR(opt, warmup_iters=3, max_iters=12, min_lr=0.05)
    h = train.train_lm(model, opt, batches(0), 15, scheduler=sched, log=False)
    assert h["lr"] == pytest.approx([nanogpt_lr(it, 0.5, 3, 12, 0.05) for it in range(15)], rel=1e-15)


def test_grad_clip_bounds_each_sgd_step():
    # with SGD (no momentum) a step moves the parameters by lr * g, and |g| <= grad_clip
    mg.manual_seed(0)
    model = Bigram(p=0.0)
    lr, clip = 1.0, 1e-3
    before = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    train.train_lm(model, optim.SGD(model.parameters(), lr=lr), batches(0), 1, grad_clip=clip, log=False)
    after = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(after - before) <= lr * clip * (1 + 1e-5)
    assert np.linalg.norm(after - before) > lr * clip * 0.99  # the raw gradient was larger: clipped


def test_estimate_loss_is_the_mean_under_no_grad_in_eval_mode():
    mg.manual_seed(0)
    model = Bigram(p=0.5)
    fixed = {"train": lm_batch(corpus(), 4, 3, 0), "val": lm_batch(corpus(), 4, 3, 1)}
    model.train()
    out = train.estimate_loss(model, lambda split: fixed[split], eval_iters=3)
    assert model.training  # restored
    assert model.grad_mode_seen and not any(model.grad_mode_seen)
    model.eval()
    with mg.no_grad():
        for split in ("train", "val"):
            x, y = (mg.tensor(a) for a in fixed[split])
            expected = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).item()
            # dropout off: every batch gives the same loss, so the mean is that loss
            assert out[split] == pytest.approx(expected, rel=1e-6)
    model.eval()
    train.estimate_loss(model, lambda split: fixed[split], eval_iters=1)
    assert not model.training  # an eval-mode model stays in eval mode
    with pytest.raises(ValueError, match="eval_iters"):
        train.estimate_loss(model, lambda split: fixed[split], eval_iters=0)


def test_custom_loss_fn_and_log_lines():
    lines = []
    mg.manual_seed(0)
    model = Bigram()

    def loss_fn(m, x, y):  # a nanoGPT-style model returns (logits, loss); here built by hand
        logits = m(x)
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1)) * 2.0

    h = train.train_lm(model, optim.Adam(model.parameters(), lr=1e-2), batches(0), 4, eval_interval=2,
                       eval_iters=1, loss_fn=loss_fn, log=lines.append)
    assert len(lines) == 3 and lines[0].startswith("step 0: train loss")
    assert h["loss"][0] > 2 * 1.5  # the doubled loss went through


def test_progress_plain_fallback_prints_periodically(capsys, monkeypatch):
    monkeypatch.delenv("MINIGRAD_QUIET", raising=False)
    bar = train.progress(range(20), desc="fit", disable=False)
    for i in bar:
        bar.set_postfix(loss=f"{i:.1f}")
    out = capsys.readouterr().out.splitlines()
    # no terminal under pytest: plain lines every 10% (here every 2 items), not a tqdm bar
    assert out[0] == "fit: 2/20 loss=1.0" and out[-1] == "fit: 20/20 loss=19.0" and len(out) == 10


def test_progress_is_quiet_when_asked(capsys, monkeypatch):
    monkeypatch.setenv("MINIGRAD_QUIET", "1")
    assert train.quiet()
    assert list(train.progress(range(5), desc="fit")) == [0, 1, 2, 3, 4]
    run(0, max_iters=3, eval_interval=1, eval_iters=1)
    model = Bigram()
    train.train_lm(model, optim.SGD(model.parameters(), lr=0.1), batches(0), 2, eval_interval=1, eval_iters=1)
    assert capsys.readouterr().out == ""


def test_bad_arguments():
    model = Bigram()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="max_iters"):
        train.train_lm(model, opt, batches(0), -1)
    with pytest.raises(ValueError, match="eval_interval"):
        train.train_lm(model, opt, batches(0), 3, eval_interval=0)


# -- budgets: steps or seconds ------------------------------------------------------------------------
class FakeClock:
    """time.perf_counter for minigrad.train: moves only when told to."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now

    def process_time(self):
        return 0.0


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(train, "time", fake)
    return fake


def test_a_budget_of_steps_runs_exactly_that_many(clock):
    budget = train.Budget(steps=5, disable=True)
    fractions = []
    while budget.running():
        clock.now += 1000.0   # time does not matter without seconds=
        budget.tick(0.5)
        fractions.append(budget.fraction())
    assert budget.step == 5 and fractions == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_a_budget_of_seconds_stops_when_the_time_is_up(clock):
    budget = train.Budget(steps=1000, seconds=1.0, disable=True)
    while budget.running():
        clock.now += 0.3
        budget.tick()
    # updates start at 0.0, 0.3, 0.6 and 0.9 s; at 1.2 s the time is up, long before 1000 steps
    assert budget.step == 4 and budget.elapsed == pytest.approx(1.2) and budget.fraction() == 1.0
    assert train.Budget(steps=2, seconds=60, disable=True).fraction() == 0.0
    with pytest.raises(ValueError, match="give a budget"):
        train.Budget()
    with pytest.raises(ValueError, match="seconds must be > 0"):
        train.Budget(seconds=0)


def test_a_time_budget_runs_the_whole_schedule_over_the_steps_that_fit(clock):
    """With seconds=, the schedule written for max_iters follows the share of the time spent: the
    warm-up and the decay both happen, however few updates fit."""
    mg.manual_seed(0)
    model = Bigram()
    opt = optim.SGD(model.parameters(), lr=0.5)
    sched = WarmupCosineLR(opt, warmup_iters=10, max_iters=100, min_lr=0.05)
    get_batch = batches(0)

    def slow_batch(split):   # each update takes 1/8 s of the fake clock (exact in binary): 20 fit in 2.5 s
        clock.now += 0.125
        return get_batch(split)

    h = train.train_lm(model, opt, slow_batch, 100, seconds=2.5, scheduler=sched, log=False)
    assert h["steps"] == len(h["lr"]) == 20
    # update k runs at the schedule's step round(k / 20 * 100) = 5k: the same curve, 5x coarser
    assert h["lr"] == pytest.approx([nanogpt_lr(5 * k, 0.5, 10, 100, 0.05) for k in range(20)], rel=1e-12)
    assert h["lr"][-1] < 0.06   # the decay finished within the time


def test_a_budget_prints_plain_lines_every_tenth(capsys, monkeypatch, clock):
    monkeypatch.delenv("MINIGRAD_QUIET", raising=False)
    budget = train.Budget(steps=20, desc="fit", disable=False)   # no terminal under pytest: plain lines
    while budget.running():
        clock.now += 1.5
        budget.tick(loss=3.0 - 0.1 * budget.step)
    budget.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    assert lines[0] == "fit: 10% step 2/20, loss 2.9000, 0:03 spent, 0:27 left"
    assert lines[-1] == "fit: 100% step 20/20, loss 1.1000, 0:30 spent, 0:00 left"


def test_progress_to_sends_bars_to_another_stream(capsys, monkeypatch, clock):
    import io

    monkeypatch.delenv("MINIGRAD_QUIET", raising=False)
    out = io.StringIO()
    with train.progress_to(out):
        budget = train.Budget(seconds=10, desc="fit", disable=False)
        clock.now += 5
        budget.tick(1.0)
    assert out.getvalue() == "fit: 50% step 1, loss 1.0000, 0:05 spent, 0:05 left\n"
    assert capsys.readouterr().out == ""
