"""Character language models trained on a text stream: RNN, LSTM, GRU (models/rnn_lm.py) and GPT
(models/gpt.py). One recipe for all four: random windows of `block_size` characters from the first
90 % of the text, next-character cross-entropy, AdamW with warmup and cosine decay
(minigrad.train.train_lm), the loss estimated on both splits every `eval_interval` steps.

Also here, for the lessons: lesson 4's recurrent experiments (names one at a time or a text stream
read with the state carried, `run_names` / `run_stream`, the loop `train`), and nanoGPT's CPU recipe
as a dataclass (`TrainConfig`, `train_char_gpt`, lesson 7).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import optim
from minigrad.nn import functional as F
from minigrad.train import Budget
from minigrad_models.gpt import GPT, GPTConfig, shakespeare_char_config
from minigrad_models.rnn_lm import IGNORE, CharRNN, detach_state

from .common import (Corpus, TrainSettings, Trained, char_tokenizer_from_json, check_sampling, eval_schedule,
                     read_checkpoint, read_training_state, reporter, results_of, split_text)
from .common import char_tokenizer_json as tokenizer_json  # the module interface's names (see recipes/__init__.py)
from .common import model_weights as state_dict

# Sizes. gpt small is nanoGPT's CPU recipe for shakespeare_char (4 layers, 4 heads, 128 wide, 64
# characters of context); gpt base is its GPU model (6 x 6 x 384, 256 characters) and gpt gpu its
# whole GPU recipe, config/train_shakespeare_char.py (evaluating every 250 steps on 200 batches): use
# --device cuda.
PRESETS = {
    "gpt": {
        "tiny": dict(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=16, lr=3e-3, iters=300, eval_iters=5),
        "small": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, lr=1e-3, iters=2000,
                      eval_iters=20),
        "base": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, lr=1e-3, iters=5000,
                     eval_iters=50, dropout=0.2),
        "gpu": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, lr=1e-3, iters=5000,
                    eval_iters=200, eval_interval=250, dropout=0.2),
    },
    "rnn": {  # shared by rnn, lstm and gru
        "tiny": dict(embed_dim=16, hidden_size=64, num_layers=1, block_size=32, batch_size=16, lr=5e-3, iters=300,
                     eval_iters=5),
        "small": dict(embed_dim=32, hidden_size=128, num_layers=1, block_size=64, batch_size=32, lr=3e-3,
                      iters=2000, eval_iters=20),
        "base": dict(embed_dim=64, hidden_size=256, num_layers=2, block_size=128, batch_size=64, lr=2e-3,
                     iters=5000, eval_iters=50, dropout=0.1),
    },
}
RNN_CELLS = ("rnn", "lstm", "gru")


def presets(kind: str) -> dict:
    return PRESETS["gpt" if kind == "gpt" else "rnn"]


def build(kind: str, model_config: dict):
    """The model of `kind` from the "model" part of config.json."""
    if kind == "gpt":
        from minigrad_models.gpt import GPT, GPTConfig

        return GPT(GPTConfig(**model_config))
    from minigrad_models.rnn_lm import CharRNN

    return CharRNN(**model_config)


def model_config(kind: str, preset: dict, vocab_size: int) -> dict:
    if kind == "gpt":
        return dict(vocab_size=vocab_size, block_size=preset["block_size"], n_layer=preset["n_layer"],
                    n_head=preset["n_head"], n_embd=preset["n_embd"], dropout=preset.get("dropout", 0.0), bias=False)
    return dict(vocab_size=vocab_size, cell=kind, embed_dim=preset["embed_dim"], hidden_size=preset["hidden_size"],
                num_layers=preset["num_layers"], dropout=preset.get("dropout", 0.0))


def _loss_fn(kind):
    if kind == "gpt":
        return lambda model, x, y: model(x, y)[1]
    from minigrad.train import next_token_loss

    return next_token_loss  # CharRNN returns (logits, state); next_token_loss takes the logits


def fit(kind: str, corpus: Corpus, settings: TrainSettings, log=print) -> Trained:
    from minigrad.data import CharTokenizer, get_batch
    from minigrad.optim import AdamW
    from minigrad.optim.lr_scheduler import WarmupCosineLR
    from minigrad.train import estimate_loss, train_lm

    preset = presets(kind)[settings.size]
    iters = settings.pick(preset, "iters")
    batch_size = settings.pick(preset, "batch_size")
    lr = settings.pick(preset, "lr")
    eval_iters = settings.pick(preset, "eval_iters")
    block = preset["block_size"]
    say = reporter(log)

    tokenizer = CharTokenizer(corpus.text)
    train_text, val_text = split_text(corpus.text)
    if min(len(train_text), len(val_text)) <= block:
        raise ValueError(f"train {kind}: the corpus is too short for {block}-character windows "
                         f"({len(train_text)} training and {len(val_text)} validation characters)")
    data = {"train": np.asarray(tokenizer.encode(train_text), dtype=np.int64),
            "val": np.asarray(tokenizer.encode(val_text), dtype=np.int64)}
    mg.manual_seed(settings.seed)
    batch_generator = mg.Generator(settings.seed)  # numpy's default_rng(seed); its state is saved for --resume
    rng = batch_generator.for_module(np)

    def batch(split):
        return get_batch(data[split], block, batch_size, rng)

    config = model_config(kind, preset, tokenizer.vocab_size)
    model = build(kind, config).to(settings.device)
    if kind == "gpt":
        optimizer = model.configure_optimizers(0.1, lr, (0.9, 0.99))
    else:
        optimizer = AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    decay_iters = settings.lr_decay_iters or iters  # longer than iters: the first part of a longer run
    warmup = min(100, decay_iters // 10)
    scheduler = WarmupCosineLR(optimizer, warmup, max(decay_iters, warmup + 1), min_lr=lr / 10)
    start = _resume(kind, settings, model, optimizer, scheduler, batch_generator, tokenizer, config, iters, say) \
        if settings.resume else 0
    prompt = default_prompt(tokenizer, corpus.text)
    trained = Trained(kind, model, tokenizer, {})

    def on_stop(step):  # the state after the last update, before the closing evaluation: for --resume
        trained.training_state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                  "step": step, "rng": mg.get_rng_state(), "batch_rng": batch_generator.get_state()}
        if settings.device == "cuda":  # dropout masks are drawn by the device's generator
            trained.training_state["cuda_rng"] = mg.cuda.get_rng_state()

    def on_eval(line):
        say(line)
        if settings.sample_tokens:
            text = generate(trained, prompt, settings.sample_tokens, temperature=0.8, top_k=None, seed=settings.seed)
            say("  sample: " + repr(text)[1:-1])

    t0 = time.perf_counter()
    history = train_lm(model, optimizer, batch, iters, scheduler=scheduler, grad_clip=1.0,
                       eval_interval=eval_schedule(settings, preset, iters), eval_iters=eval_iters,
                       loss_fn=_loss_fn(kind), log=on_eval, desc=kind, progress_bar=settings.progress,
                       start_step=start, on_stop=on_stop)
    if not history["val_loss"]:  # --iters 0: still say where the model stands
        final = estimate_loss(model, batch, eval_iters, loss_fn=_loss_fn(kind))
        history["train_loss"], history["val_loss"] = [final["train"]], [final["val"]]
    trained.history = history
    trained.config = {
        "size": settings.size, "model": config,
        "training": dict(iters=iters, batch_size=batch_size, block_size=block, lr=lr, seed=settings.seed,
                         device=settings.device, optimizer="AdamW", resumed_from_step=start or None,
                         schedule=f"warmup {warmup} + cosine to lr/10 over {decay_iters} steps"),
        "corpus": {"spec": corpus.spec, "source": corpus.source, "chars": len(corpus.text)},
        "sample_prompt": prompt,
        "results": results_of(history, time.perf_counter() - t0),
    }
    return trained


def _resume(kind, settings, model, optimizer, scheduler, batch_generator, tokenizer, config, iters, say) -> int:
    """Load a checkpoint's weights, optimizer, scheduler and random states into the freshly built
    run; returns the step to continue from. The run must be the same one: kind, model, vocabulary."""
    folder = settings.resume
    saved, tok_json, weights = read_checkpoint(folder)
    state = read_training_state(folder)
    if saved.get("kind") != kind or saved.get("model") != config:
        raise ValueError(f"--resume {folder}: it holds a {saved.get('kind')} model {saved.get('model')}, not this "
                         f"run's {kind} {config}; resume with the kind, --size and corpus it was trained with")
    if char_tokenizer_from_json(tok_json).itos != tokenizer.itos:
        raise ValueError(f"--resume {folder}: its vocabulary differs from this corpus's; resume on the corpus it was "
                         f"trained on ({saved.get('corpus', {}).get('spec')})")
    step = int(state["step"])
    if iters < step:
        raise ValueError(f"--resume {folder}: the checkpoint is at step {step}, past --iters {iters} (the total "
                         "number of steps, as nanoGPT's max_iters)")
    model.load_state_dict(weights)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    mg.set_rng_state(state["rng"])
    batch_generator.set_state(state["batch_rng"])
    if "cuda_rng" in state and settings.device == "cuda":
        mg.cuda.set_rng_state(state["cuda_rng"])
    say(f"resuming from {folder} at step {step} of {iters}")
    return step


def default_prompt(tokenizer, text: str) -> str:
    """Start samples at a line break when the text has them (the start of a line or a name)."""
    return "\n" if "\n" in tokenizer.stoi else text[0]


def restore(kind: str, config: dict, tok_json: dict, state: dict, device: str) -> Trained:
    tokenizer = char_tokenizer_from_json(tok_json)
    model = build(kind, config["model"])
    model.load_state_dict(state)
    return Trained(kind, model.to(device).eval(), tokenizer, config)


def _encode_prompt(trained: Trained, prompt: str) -> list[int]:
    try:
        return trained.tokenizer.encode(prompt)
    except ValueError as e:
        raise ValueError(f"--prompt {prompt!r}: {e}. The model knows only the characters of its training text "
                         f"({''.join(c for c in trained.tokenizer.itos if c.isprintable())!r})") from None


@mg.no_grad()
def generate(trained: Trained, prompt: str | None, tokens: int, temperature: float = 1.0, top_k: int | None = None,
             seed: int = 0) -> str:
    """`prompt` followed by `tokens` sampled characters."""
    check_sampling(temperature, top_k, tokens)
    if prompt is None or prompt == "":
        prompt = trained.config.get("sample_prompt") or default_prompt(trained.tokenizer, "\n")
    ids = _encode_prompt(trained, prompt)
    model = trained.model
    was_training = model.training
    model.eval()
    try:
        if trained.kind == "gpt":
            out = model.generate(np.asarray([ids], dtype=np.int64), tokens, temperature=temperature, top_k=top_k,
                                 generator=mg.Generator(seed))
            new = out.numpy()[0, len(ids):].tolist()
        else:
            new = model.generate(np.asarray([ids], dtype=np.int64), tokens, temperature=temperature,
                                 generator=mg.Generator(seed), top_k=top_k)[0]
    finally:
        model.train(was_training)
    return prompt + trained.tokenizer.decode(new)


def loss_on_example(trained: Trained, text: str = "The cat sat."):
    """The next-character loss on one short window of `text` (for drawing its graph)."""
    ids = _encode_prompt(trained, text)[: trained.config["model"].get("block_size", 64) + 1]
    x = mg.tensor(np.asarray([ids[:-1]], dtype=np.int64))
    y = mg.tensor(np.asarray([ids[1:]], dtype=np.int64))
    return _loss_fn(trained.kind)(trained.model, x, y)


# -- nanoGPT's CPU recipe as a dataclass, for lesson 7 and the tests --------------------------------------
NANOGPT_CPU = PRESETS["gpt"]["small"]  # its numbers live in one table: the presets above


@dataclass
class TrainConfig:
    """nanoGPT's config/train_shakespeare_char.py with its README's CPU overrides: PRESETS["gpt"]["small"]
    (what `minigrad train gpt --size small` runs) with nanoGPT's own seed, evaluation and final estimate."""
    max_iters: int = NANOGPT_CPU["iters"]
    seconds: float | None = None       # stop after this much wall clock if max_iters take longer
    batch_size: int = NANOGPT_CPU["batch_size"]
    learning_rate: float = NANOGPT_CPU["lr"]
    min_lr: float = NANOGPT_CPU["lr"] / 10
    warmup_iters: int = 100
    lr_decay_iters: int = NANOGPT_CPU["iters"]
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = NANOGPT_CPU["eval_iters"]  # nanoGPT's CPU command; noisy, hence final_eval_iters
    final_eval_iters: int = 200        # a steadier estimate at the end
    train_fraction: float = 0.9
    seed: int = 1337


def train_char_gpt(text, config: GPTConfig | None = None, train_config: TrainConfig | None = None,
                   progress=True, tokenizer=None, log=True):
    """Train a character-level GPT on `text` (90/10 split, nanoGPT's recipe by default).

    Returns (model, history): the train_lm history plus `final_train_loss`/`final_val_loss`
    (over final_eval_iters batches), `tokenizer` (CharTokenizer(text) unless given), `config`.
    config.vocab_size is set from the tokenizer."""
    from minigrad.data import CharTokenizer, get_batch, train_val_split
    from minigrad.optim.lr_scheduler import WarmupCosineLR
    from minigrad.train import estimate_loss, train_lm

    tc = train_config or TrainConfig()
    tok = tokenizer or CharTokenizer(text)
    config = replace(config or shakespeare_char_config(), vocab_size=tok.vocab_size)
    data = np.asarray(tok.encode(text), dtype=np.int64)
    train_data, val_data = train_val_split(data, tc.train_fraction)
    mg.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)

    def batch(split):
        return get_batch(train_data if split == "train" else val_data, config.block_size, tc.batch_size, rng)

    def loss_fn(model, x, y):
        return model(x, y)[1]

    model = GPT(config)
    optimizer = model.configure_optimizers(tc.weight_decay, tc.learning_rate, tuple(tc.betas))
    scheduler = WarmupCosineLR(optimizer, tc.warmup_iters, tc.lr_decay_iters, min_lr=tc.min_lr)
    t0 = time.perf_counter()
    history = train_lm(model, optimizer, batch, tc.max_iters, seconds=tc.seconds, scheduler=scheduler,
                       grad_clip=tc.grad_clip, eval_interval=tc.eval_interval, eval_iters=tc.eval_iters,
                       loss_fn=loss_fn, log=log, desc="gpt", progress_bar=progress)
    train_time = time.perf_counter() - t0
    final = estimate_loss(model, batch, tc.final_eval_iters, loss_fn=loss_fn)
    history.update(final_train_loss=final["train"], final_val_loss=final["val"], train_time=train_time,
                   tokenizer=tok, config=asdict(config), train_config=asdict(tc))
    return model, history


def sample_text(model, tokenizer, prompt="\n", max_new_tokens=500, temperature=0.8, top_k=200, top_p=None,
                seed=0):
    idx = np.asarray([tokenizer.encode(prompt)], dtype=np.int64)
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         generator=mg.Generator(seed))
    return tokenizer.decode(out.numpy()[0].tolist())


# -- names: one sequence per name ------------------------------------------------------------------
def encode_names(words, tokenizer):
    """Each name -> (input ids '.'+name, target ids name+'.'), '.' being the tokenizer's id 0."""
    boundary = tokenizer.stoi["."]
    out = []
    for w in words:
        ids = tokenizer.encode(w)
        out.append((np.array([boundary] + ids, dtype=np.int64), np.array(ids + [boundary], dtype=np.int64)))
    return out


def pad_names(pairs):
    """Right-pad a list of (x, y) to one (B, T) batch; padded targets are IGNORE."""
    T = max(len(x) for x, _ in pairs)
    xs = np.zeros((len(pairs), T), dtype=np.int64)
    ys = np.full((len(pairs), T), IGNORE, dtype=np.int64)
    for b, (x, y) in enumerate(pairs):
        xs[b, :len(x)] = x
        ys[b, :len(y)] = y
    return xs, ys


def names_batches(encoded, batch_size, rng):
    """Endless random batches of names (x, y), each a (B, T) padded array."""
    if len(encoded) < batch_size:
        raise ValueError(f"names_batches: {len(encoded)} names are fewer than batch_size={batch_size}")
    while True:
        order = rng.permutation(len(encoded))  # a new shuffle every epoch
        for start in range(0, len(encoded) - batch_size + 1, batch_size):
            yield pad_names([encoded[i] for i in order[start:start + batch_size]])


@mg.no_grad()
def names_loss(model, encoded, batch_size=1024):
    """Mean nats per predicted character over all names (each name's letters and its final '.')."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        x, y = pad_names(encoded[start:start + batch_size])
        logits, _ = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                                 ignore_index=IGNORE, reduction="sum").item()
        count += int((y != IGNORE).sum())
    model.train(was_training)
    return total / count


# -- a text stream: parallel strands, consecutive chunks, state carried ------------------------------
def strands(ids, batch_size, offset=0):
    """Cut ids[offset:] into batch_size equal consecutive strands: (batch_size, n)."""
    ids = np.asarray(ids, dtype=np.int64)[offset:]
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(f"strands: {len(ids)} tokens are too few for {batch_size} strands")
    return ids[:n * batch_size].reshape(batch_size, n)


def stream_batches(ids, batch_size, seq_len, rng):
    """Endless (x, y, new_epoch) chunks of seq_len from batch_size strands; each epoch starts
    at a random offset so that chunk boundaries move. Carry the state while new_epoch is False."""
    while True:
        s = strands(ids, batch_size, int(rng.integers(0, seq_len)))
        for start in range(0, s.shape[1] - 1, seq_len):
            end = min(start + seq_len, s.shape[1] - 1)
            yield s[:, start:end], s[:, start + 1:end + 1], start == 0


@mg.no_grad()
def stream_loss(model, ids, batch_size=16, seq_len=256):
    """Mean nats per character over a whole stream, read in strands with the state carried:
    every character after the first of each strand is predicted once."""
    was_training = model.training
    model.eval()
    s = strands(ids, batch_size)
    state, total, count = None, 0.0, 0
    for start in range(0, s.shape[1] - 1, seq_len):
        end = min(start + seq_len, s.shape[1] - 1)
        logits, state = model(s[:, start:end], state)
        y = s[:, start + 1:end + 1]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                                 reduction="sum").item()
        count += y.size
    model.train(was_training)
    return total / count


# -- training -----------------------------------------------------------------------------------------
def train(model, batches, steps=None, seconds=None, lr=3e-3, grad_clip=1.0, stateful=False,
          weight_decay=0.0, log_every=0, log=print, desc="train"):
    """Adam with cosine decay to lr/10 over `steps` updates, or until `seconds` have passed if
    that comes first (the decay then follows the share of the time spent, so a run cut short by
    the clock still ends at lr/10); returns {"steps", "seconds" (wall clock), "cpu seconds"
    (this process's CPU time: the honest figure on a shared machine), "tokens", "losses"}.

    stateful=True: batches yield (x, y, new_epoch) and the state is carried (detached) between them.
    A progress bar (minigrad.train.Budget, named `desc`) shows the step, the loss and the time left.
    """
    budget = Budget(steps, seconds, desc=desc)
    horizon = steps or 1000
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=horizon, eta_min=lr / 10)
    model.train()
    cpu0 = time.process_time()
    state, losses, tokens = None, [], 0
    while budget.running():
        batch = next(batches)
        if stateful:
            x, y, new_epoch = batch
            state = None if new_epoch or state is None else detach_state(state)
        else:
            x, y = batch
            state = None
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.tensor(y.reshape(-1), device=logits.device),
                               ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        if grad_clip:
            optim.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
        tokens += int((y != IGNORE).sum())
        budget.tick(losses[-1])
        budget.schedule(sched, horizon)   # epoch = the update count, or the share of the time spent
        step = budget.step
        if log_every and log and step % log_every == 0:
            elapsed = budget.elapsed
            line = (f"step {step}: loss {np.mean(losses[-log_every:]):.4f}  "
                    f"({tokens / elapsed:,.0f} tok/s, {elapsed:.0f} s)")
            budget.write(line) if log is print else log(line)   # above the bar, not through it
    budget.close()
    return {"steps": budget.step, "seconds": budget.elapsed, "cpu seconds": time.process_time() - cpu0,
            "tokens": tokens, "losses": losses}


# -- the experiments --------------------------------------------------------------------------------
def load_names(data_dir=None):
    """(train, dev, test) names with the makemore split, and where they came from."""
    from minigrad.data import builtin_names
    from minigrad.data.splits import makemore_split

    words, source = _read_lines(data_dir, "names.txt")
    if words is None:
        words, source = builtin_names(4000), "builtin_names(4000)"
    return makemore_split(words), source


def load_stream(data_dir=None):
    """(train text, val text) of tiny Shakespeare (90 / 10), or of the built-in text."""
    from minigrad.data import builtin_text, train_val_split

    text, source = None, None
    if data_dir is not None:
        path = Path(data_dir) / "tinyshakespeare.txt"
        if path.is_file():
            text, source = path.read_text(encoding="utf-8"), str(path)
    if text is None:
        text, source = builtin_text(200_000), "builtin_text(200_000)"
    return train_val_split(text, 0.9), source


def _read_lines(data_dir, name):
    if data_dir is None:
        return None, None
    path = Path(data_dir) / name
    if not path.is_file():
        return None, None
    return path.read_text(encoding="utf-8").splitlines(), str(path)


def run_names(cell, data_dir=None, hidden_size=256, embed_dim=64, batch_size=64, steps=None, seconds=120,
              lr=5e-3, dropout=0.0, seed=0, log_every=0):
    from minigrad.data import CharTokenizer

    (train_w, dev_w, test_w), source = load_names(data_dir)
    tok = CharTokenizer(train_w + dev_w + test_w, specials=["."])
    mg.manual_seed(seed)
    model = CharRNN(tok.vocab_size, cell, embed_dim, hidden_size, dropout=dropout)
    train_enc, dev_enc = encode_names(train_w, tok), encode_names(dev_w, tok)
    stats = train(model, names_batches(train_enc, batch_size, np.random.default_rng(seed)), steps, seconds, lr,
                  log_every=log_every)
    return {"corpus": "names", "source": source, "cell": cell, "hidden": hidden_size, "params": model.num_parameters(),
            "steps": stats["steps"], "seconds": round(stats["seconds"], 1), "cpu seconds": round(stats["cpu seconds"], 1),
            "train loss": names_loss(model, train_enc), "dev loss": names_loss(model, dev_enc)}, model, tok


def run_stream(cell, data_dir=None, hidden_size=256, embed_dim=64, batch_size=32, seq_len=64, steps=None,
               seconds=180, lr=3e-3, dropout=0.0, seed=0, log_every=0):
    from minigrad.data import CharTokenizer

    (train_text, val_text), source = load_stream(data_dir)
    tok = CharTokenizer(train_text + val_text)
    mg.manual_seed(seed)
    model = CharRNN(tok.vocab_size, cell, embed_dim, hidden_size, dropout=dropout)
    train_ids, val_ids = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    batches = stream_batches(train_ids, batch_size, seq_len, np.random.default_rng(seed))
    stats = train(model, batches, steps, seconds, lr, stateful=True, log_every=log_every)
    return {"corpus": "text", "source": source, "cell": cell, "hidden": hidden_size, "params": model.num_parameters(),
            "steps": stats["steps"], "seconds": round(stats["seconds"], 1), "cpu seconds": round(stats["cpu seconds"], 1),
            "train chars seen": stats["tokens"], "val loss": stream_loss(model, val_ids)}, model, tok
