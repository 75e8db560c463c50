"""The recipes behind `minigrad train` and `minigrad sample`: every kind trained, saved, loaded and
sampled through the same four calls.

    trained = recipes.train("gpt", corpus="builtin", size="tiny", iters=200)   # or TrainSettings
    recipes.save(trained, "ckpt/")            # config.json + model.safetensors + tokenizer.json
    trained = recipes.load("ckpt/")
    print(recipes.sample(trained, prompt="The ", tokens=200, temperature=0.8, top_k=20))

Each kind lives in its own file here (ngram, char_lm for rnn/lstm/gru/gpt, bert, bart) with the
same functions: presets, fit, state_dict, tokenizer_json, restore, generate, loss_on_example. The models
themselves are in models/; this package wires them to a corpus and a checkpoint folder, and holds the
lessons' tasks, training loops and scores beside them (seq2seq.py and transformer.py for lesson 5).
"""
from __future__ import annotations

import importlib

from .common import SIZES, Corpus, TrainSettings, Trained, check_device, load_corpus, read_checkpoint, write_checkpoint

KINDS = ("ngram", "rnn", "lstm", "gru", "gpt", "bert", "bart")
_RECIPES = {"ngram": "ngram", "rnn": "char_lm", "lstm": "char_lm", "gru": "char_lm", "gpt": "char_lm",
            "bert": "bert", "bart": "bart"}
WHAT = {
    "ngram": "character n-gram, interpolated Kneser-Ney (counting; no gradient)",
    "rnn": "character RNN (tanh) language model",
    "lstm": "character LSTM language model",
    "gru": "character GRU language model",
    "gpt": "character GPT (nanoGPT's shape)",
    "bert": "BERT masked-word model (fills in [MASK] / _)",
    "bart": "BART character denoiser (fills in _ gaps)",
}


def recipe(kind: str):
    """The module that trains, saves and samples `kind`."""
    if kind not in _RECIPES:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return importlib.import_module(f"{__name__}.{_RECIPES[kind]}")


def presets(kind: str) -> dict:
    return recipe(kind).presets(kind)


def train(kind: str, corpus: str | Corpus = "builtin", settings: TrainSettings | None = None, log=print,
          **overrides) -> Trained:
    """Train `kind` on `corpus` (a Corpus, or a spec for load_corpus) with `settings` (or its fields as
    keyword arguments: size, iters, batch_size, lr, lr_decay_iters, eval_interval, eval_iters, sample_tokens,
    seed, device, progress, resume)."""
    settings = settings or TrainSettings(**overrides)
    if settings.size not in SIZES:
        raise ValueError(f"unknown size {settings.size!r}; choose one of {', '.join(SIZES)}")
    if settings.size not in presets(kind):
        raise ValueError(f"size {settings.size!r} is not defined for {kind} (gpu is nanoGPT's GPU recipe, for gpt); "
                         f"sizes for {kind}: {', '.join(presets(kind))}")
    if settings.iters is not None and settings.iters < 0:
        raise ValueError(f"--iters must be >= 0, got {settings.iters}")
    settings.device = check_device(settings.device)
    if settings.resume and _RECIPES[kind] != "char_lm":
        raise ValueError(f"--resume works for rnn, lstm, gru and gpt (they train with minigrad.train.train_lm); "
                         f"{kind} trains with its own loop and cannot resume yet")
    module = recipe(kind)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus, settings.size)
    return module.fit(kind, corpus, settings, log=log)


def save(trained: Trained, folder):
    module = recipe(trained.kind)
    return write_checkpoint(folder, trained, module.state_dict(trained), module.tokenizer_json(trained))


def load(folder, device: str = "cpu") -> Trained:
    config, tok_json, state = read_checkpoint(folder)
    kind = config.get("kind")
    try:
        module = recipe(kind)
    except ValueError as e:
        raise ValueError(f"--checkpoint {folder}: config.json: {e}") from None
    device = check_device(device)
    try:
        return module.restore(kind, config, tok_json, state, device)
    except (TypeError, KeyError, ValueError, RuntimeError) as e:
        # settings or weights that do not fit the kind: a config.json edited or taken from elsewhere
        raise ValueError(f"--checkpoint {folder}: config.json (kind {kind!r}) and the files beside it do not fit "
                         f"together: {type(e).__name__}: {e}") from None


def sample(trained: Trained, prompt: str | None = None, tokens: int = 200, temperature: float | None = None,
           top_k: int | None = None, seed: int = 0) -> str:
    """Text from the model: a continuation (ngram, rnn, lstm, gru, gpt), filled blanks (bert) or a
    reconstruction (bart). temperature None is each kind's default (1 to sample, 0 where greedy)."""
    module = recipe(trained.kind)
    kwargs = {} if temperature is None else {"temperature": temperature}
    return module.generate(trained, prompt, tokens, top_k=top_k, seed=seed, **kwargs)


def loss_graph(trained: Trained, max_nodes: int = 150):
    """The computation graph of the model's training loss on one short example: op and tensor
    nodes, each module in a box named by its path, the parameters by their state_dict names."""
    from minigrad import viz

    model = trained.model
    if trained.kind == "ngram":
        recipe("ngram").loss_on_example(trained)  # says why there is no graph
    model.eval()  # no dropout: the graph shows the model itself
    with viz.record_modules(model):
        loss = recipe(trained.kind).loss_on_example(trained)
    loss.name = "loss"
    return viz.draw_graph(loss, params=model, rankdir="TB", max_nodes=max_nodes,
                          title=f"{trained.kind}: the training loss on one short example")


__all__ = ["KINDS", "SIZES", "WHAT", "Corpus", "TrainSettings", "Trained", "train", "save", "load", "sample",
           "presets", "load_corpus", "recipe", "loss_graph"]
