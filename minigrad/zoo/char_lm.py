"""Character language models trained on a text stream: RNN, LSTM, GRU (models/rnn_lm.py) and GPT
(models/gpt.py). One recipe for all four: random windows of `block_size` characters from the first
90 % of the text, next-character cross-entropy, AdamW with warmup and cosine decay
(minigrad.train.train_lm), the loss estimated on both splits every `eval_interval` steps.
"""
from __future__ import annotations

import time

import numpy as np

import minigrad as mg

from .common import (Corpus, TrainSettings, Trained, char_tokenizer_from_json, check_sampling, eval_schedule,
                     read_checkpoint, read_training_state, reporter, results_of, split_text)
from .common import char_tokenizer_json as tokenizer_json  # the module interface's names (see zoo/__init__.py)
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
        from models.gpt import GPT, GPTConfig

        return GPT(GPTConfig(**model_config))
    from models.rnn_lm import CharRNN

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
