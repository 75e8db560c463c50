"""A character n-gram model (models/ngram.py, interpolated modified Kneser-Ney) on a text stream.

There is nothing to train by gradient: fitting is counting, a second or so for a million
characters. The checkpoint therefore keeps the training text's ids (model.safetensors:
`train_ids`, int32) and n/smoothing (config.json), and loading counts again: the same text and
settings give the same counts, with nothing pickled and no dependency on where the corpus was.
"""
from __future__ import annotations

import time

import numpy as np

from .common import Corpus, TrainSettings, Trained, char_tokenizer_from_json, check_sampling, reporter, split_text
from .common import char_tokenizer_json as tokenizer_json  # the module interface's name (see recipes/__init__.py)

PRESETS = {"tiny": dict(n=3), "small": dict(n=5), "base": dict(n=6)}
SMOOTHING = "kneser_ney"


def presets(kind: str = "ngram") -> dict:
    return PRESETS


def _fit_counts(n: int, train_text: str, vocab: list[str]):
    from minigrad_models.ngram import NGramLM

    return NGramLM(n, SMOOTHING).fit(train_text, vocab=vocab)


def fit(kind: str, corpus: Corpus, settings: TrainSettings, log=print) -> Trained:
    from minigrad.data import CharTokenizer

    say = reporter(log)
    if settings.iters is not None or settings.device != "cpu":
        say("ngram: counting needs no iterations and no GPU; --iters and --device are ignored")
    n = PRESETS[settings.size]["n"]
    tokenizer = CharTokenizer(corpus.text)
    train_text, val_text = split_text(corpus.text)
    t0 = time.perf_counter()
    model = _fit_counts(n, train_text, tokenizer.itos)
    # nats per character: on the held-out 10 %, and on as much of the training text (how much it memorised)
    val_loss = model.cross_entropy(val_text)
    train_loss = model.cross_entropy(train_text[:len(val_text)])
    seconds = time.perf_counter() - t0
    say(f"{n}-gram ({SMOOTHING}) on {len(train_text):,} characters: train loss {train_loss:.4f}, "
        f"val loss {val_loss:.4f} ({seconds:.1f} s)")
    prompt = "\n" if "\n" in tokenizer.stoi else corpus.text[0]
    trained = Trained(kind, model, tokenizer, {})
    trained.history = {"train_loss": [train_loss], "val_loss": [val_loss]}
    trained.config = {
        "size": settings.size, "model": {"n": n, "smoothing": SMOOTHING},
        "training": {"train_chars": len(train_text), "note": "counts; refitted from train_ids on load"},
        "corpus": {"spec": corpus.spec, "source": corpus.source, "chars": len(corpus.text)},
        "sample_prompt": prompt,
        "results": {"train_loss": round(train_loss, 4), "val_loss": round(val_loss, 4), "seconds": round(seconds, 1)},
    }
    trained.train_text = train_text
    if settings.sample_tokens:
        say("  sample: " + repr(generate(trained, prompt, settings.sample_tokens, seed=settings.seed))[1:-1])
    return trained


def state_dict(trained: Trained) -> dict:
    ids = trained.tokenizer.encode(trained.train_text)
    return {"train_ids": np.asarray(ids, dtype=np.int32)}


def restore(kind: str, config: dict, tok_json: dict, state: dict, device: str) -> Trained:
    if "train_ids" not in state:
        raise ValueError("ngram checkpoint: model.safetensors has no train_ids (it should hold the training text's ids)")
    tokenizer = char_tokenizer_from_json(tok_json)
    train_text = tokenizer.decode(state["train_ids"].astype(np.int64).tolist())
    model = _fit_counts(int(config["model"]["n"]), train_text, tokenizer.itos)
    trained = Trained(kind, model, tokenizer, config)
    trained.train_text = train_text
    return trained


def generate(trained: Trained, prompt: str | None, tokens: int, temperature: float = 1.0, top_k: int | None = None,
             seed: int = 0) -> str:
    """`prompt` followed by `tokens` characters drawn from the smoothed counts. An n-gram samples
    from its distribution as it is: temperature 1, no top-k."""
    check_sampling(temperature, top_k, tokens)
    if temperature != 1.0 or top_k is not None:
        raise ValueError("ngram: --temperature and --top-k are not supported; an n-gram model samples from its "
                         "smoothed counts as they are (leave them out)")
    if not prompt:
        prompt = trained.config.get("sample_prompt") or "\n"
    missing = sorted(set(prompt) - set(trained.tokenizer.stoi))
    if missing:
        raise ValueError(f"--prompt {prompt!r}: the characters {missing} never occur in the training text")
    if tokens == 0:
        return prompt
    return prompt + trained.model.sample(1, seed=seed, max_length=tokens, prompt=prompt)[0]


def loss_on_example(trained: Trained, text: str | None = None):
    raise ValueError("an n-gram model is a table of counts: no gradient flows through it, so it has no "
                     "computation graph to draw (try `minigrad graph lookup`: the bigram table as a lookup)")
