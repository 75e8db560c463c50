"""BART (models/bart.py) trained as a character-level denoiser on a corpus's sentences.

Each sentence is corrupted by text infilling (30 % of its characters, in spans of Poisson(3)
length, each span replaced by one <mask>), and the model writes the original back. "Sampling"
from BART means reconstructing: the prompt marks each gap with _ (any number of characters may
be missing there), and greedy decoding fills them in.

Also here, for lesson 7: the character tokenizer, the denoising batches, the training loop and
the reconstruction accuracy.
"""
from __future__ import annotations

import re
import time

import numpy as np

import minigrad as mg
from minigrad_models.bart import IGNORE_INDEX, BartForConditionalGeneration, text_infilling, token_deletion, token_masking

from .common import (Corpus, TrainSettings, Trained, char_tokenizer_from_json, check_sampling, eval_schedule, reporter,
                     results_of)
from .common import char_tokenizer_json as tokenizer_json  # the module interface's names (see recipes/__init__.py)
from .common import model_weights as state_dict

PRESETS = {
    "tiny": dict(d_model=32, layers=1, heads=2, ffn=64, max_chars=48, batch_size=16, lr=2e-3, iters=300,
                 eval_iters=3, dropout=0.0),
    "small": dict(d_model=128, layers=2, heads=4, ffn=512, max_chars=96, batch_size=32, lr=1e-3, iters=2000,
                  eval_iters=10, dropout=0.1),
    "base": dict(d_model=256, layers=3, heads=4, ffn=1024, max_chars=160, batch_size=64, lr=5e-4, iters=5000,
                 eval_iters=20, dropout=0.1),
}
MASK_RATIO = 0.3
GAP = "_"  # how a <mask> is written in prompts and shown in output (decode_chars)


def presets(kind: str = "bart") -> dict:
    return PRESETS


def _bart():
    import minigrad_models.bart as bart

    return bart


def build(model_config: dict):
    bart = _bart()
    return bart.BartForConditionalGeneration(bart.BartConfig(**model_config))


def _sentences(text: str, max_chars: int) -> list[str]:
    """Sentences (cut after . ! ? and white space, or at line ends), at most max_chars long."""
    pieces = (s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text))
    return [s[:max_chars] for s in pieces if len(s) >= 8 and GAP not in s]


def fit(kind: str, corpus: Corpus, settings: TrainSettings, log=print) -> Trained:
    from minigrad import optim
    from minigrad.train import train_lm

    bart = _bart()
    preset = PRESETS[settings.size]
    iters = settings.pick(preset, "iters")
    if iters < 1:
        raise ValueError(f"train bart: --iters must be >= 1, got {iters}")
    say = reporter(log)
    sentences = _sentences(corpus.text, preset["max_chars"])
    if len(sentences) < 20:
        raise ValueError(f"train bart: the corpus has {len(sentences)} usable sentences; a denoiser needs many")
    cut = int(0.9 * len(sentences))
    texts = {"train": sentences[:cut], "val": sentences[cut:]}
    tokenizer = char_tokenizer("".join(sentences))
    sp = special_ids(tokenizer)
    # a 0-length span inserts a <mask>, so the noised input may be a little longer than the sentence
    config = dict(vocab_size=tokenizer.vocab_size, max_position_embeddings=preset["max_chars"] + 16,
                  d_model=preset["d_model"], encoder_layers=preset["layers"], decoder_layers=preset["layers"],
                  encoder_attention_heads=preset["heads"], decoder_attention_heads=preset["heads"],
                  encoder_ffn_dim=preset["ffn"], decoder_ffn_dim=preset["ffn"], dropout=preset["dropout"],
                  pad_token_id=sp["pad"], bos_token_id=sp["bos"], eos_token_id=sp["eos"],
                  decoder_start_token_id=sp["eos"], forced_bos_token_id=None, forced_eos_token_id=sp["eos"])
    mg.manual_seed(settings.seed)
    model = build(config).to(settings.device)
    rng = np.random.default_rng(settings.seed)
    batch_size = settings.pick(preset, "batch_size")

    def get_batch(split):
        pool = texts[split]
        picked = [pool[i] for i in rng.integers(0, len(pool), size=batch_size)]
        input_ids, _, labels, _ = denoising_batch(picked, tokenizer, rng, MASK_RATIO)
        return input_ids, labels

    def loss_fn(m, x, y):  # padding is where the input holds <pad>
        return m(x, attention_mask=(x.numpy() != sp["pad"]).astype(np.int64), labels=y)[1]

    prompt = _default_prompt(texts["val"][0], tokenizer)
    trained = Trained(kind, model, tokenizer, {"model": config, "sample_prompt": prompt})

    def on_eval(line):
        say(line)
        if settings.sample_tokens:
            say(f"  {prompt!r} -> {generate(trained, prompt, settings.sample_tokens)!r}")

    lr = settings.pick(preset, "lr")
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = min(50, iters // 10)
    scheduler = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup, iters, min_lr=lr / 10)
    t0 = time.perf_counter()
    history = train_lm(model, optimizer, get_batch, iters, scheduler=scheduler, grad_clip=1.0, loss_fn=loss_fn,
                       eval_interval=eval_schedule(settings, preset, iters),
                       eval_iters=settings.pick(preset, "eval_iters"), log=on_eval, desc="bart",
                       progress_bar=settings.progress)
    seconds = time.perf_counter() - t0
    scores = reconstruction_accuracy(model, texts["val"][:64], tokenizer, mask_ratio=MASK_RATIO)
    say(f"on 64 corrupted validation sentences: exact reconstructions {scores['exact_match']:.1%}, "
        f"characters right inside the gaps {scores['infilled_token_accuracy']:.1%}")
    trained.history = history
    results = results_of(history, seconds)
    results.update({k: round(scores[k], 4) for k in ("exact_match", "token_accuracy", "infilled_token_accuracy")})
    trained.config = {
        "size": settings.size, "model": config,
        "training": dict(iters=iters, batch_size=batch_size, lr=lr, seed=settings.seed, device=settings.device,
                         max_chars=preset["max_chars"], objective=f"text infilling, {MASK_RATIO:.0%}, Poisson(3) spans"),
        "corpus": {"spec": corpus.spec, "source": corpus.source, "chars": len(corpus.text)},
        "sample_prompt": prompt, "results": results,
    }
    return trained


def _default_prompt(sentence: str, tokenizer) -> str:
    """The sentence with a few of its characters blanked out by the training noise."""
    bart = _bart()
    sp = special_ids(tokenizer)
    noised = bart.text_infilling(np.asarray(tokenizer.encode(sentence), dtype=np.int64), sp["mask"], MASK_RATIO,
                                 rng=np.random.default_rng(1))
    return decode_chars(noised, tokenizer)


def restore(kind: str, config: dict, tok_json: dict, state: dict, device: str) -> Trained:
    tokenizer = char_tokenizer_from_json(tok_json)
    model = build(config["model"])
    model.load_state_dict(state)
    return Trained(kind, model.to(device).eval(), tokenizer, config)


@mg.no_grad()
def generate(trained: Trained, prompt: str | None, tokens: int = 200, temperature: float = 0.0,
             top_k: int | None = None, seed: int = 0) -> str:
    """The reconstruction of `prompt`, whose gaps are written _ (greedy decoding, at most `tokens`
    characters). BART decodes greedily here: temperature and top-k are not supported."""
    check_sampling(temperature, top_k, tokens)
    if temperature not in (0, 0.0) or top_k is not None:
        raise ValueError("bart: reconstruction is greedy; --temperature and --top-k are not supported "
                         "(leave them out)")
    bart = _bart()
    tok = trained.tokenizer
    sp = special_ids(tok)
    text = prompt or trained.config.get("sample_prompt") or GAP
    missing = sorted(set(text) - set(tok.stoi) - {GAP})
    if missing:
        raise ValueError(f"--prompt {text!r}: the characters {missing} never occur in the training text")
    ids = [sp["bos"]]
    for i, piece in enumerate(text.split(GAP)):
        if i:
            ids.append(sp["mask"])
        ids += tok.encode(piece)
    ids.append(sp["eos"])
    limit = trained.config["model"]["max_position_embeddings"]
    if len(ids) > limit:
        raise ValueError(f"--prompt is {len(ids)} tokens with <s> and </s>; this BART reads at most {limit}")
    input_ids = np.asarray([ids], dtype=np.int64)
    out = trained.model.generate(input_ids, np.ones_like(input_ids), max_new_tokens=max(2, min(tokens, limit - 1)))
    return decode_chars(out[0, 1:], tok)


def loss_on_example(trained: Trained, text: str | None = None):
    """The reconstruction loss of one short corrupted sentence (for drawing its graph)."""
    bart = _bart()
    tok = trained.tokenizer
    sentence = text or "The cat sat."
    missing = sorted(set(sentence) - set(tok.stoi))
    if missing:
        raise ValueError(f"the characters {missing} never occur in the training text")
    input_ids, attention_mask, labels, _ = denoising_batch([sentence], tok, np.random.default_rng(0), MASK_RATIO)
    return trained.model(input_ids, attention_mask=attention_mask, labels=labels)[1]


# ---------------------------------------------------------------------- a denoising task on characters
def char_tokenizer(text: str):
    """Characters of `text` plus BART's specials, placed so that <s>=0, <pad>=1, </s>=2 as in BART, <mask>=3."""
    from minigrad.data import CharTokenizer

    return CharTokenizer(text, specials=["<s>", "<pad>", "</s>", "<mask>"])


def special_ids(tokenizer) -> dict:
    s = tokenizer.stoi
    return {"bos": s["<s>"], "pad": s["<pad>"], "eos": s["</s>"], "mask": s["<mask>"]}


def denoising_batch(texts, tokenizer, rng, mask_ratio: float = 0.3, poisson_lambda: float = 3.0,
                    deletion: float = 0.0, masking: float = 0.0):
    """One batch for BART: (input_ids, attention_mask, labels, span_target_mask).

    input: <s> noised(text) </s>;  labels: <s> text </s>, IGNORE_INDEX on padding.
    span_target_mask marks the label positions that were inside an infilled span (what the
    model could not copy). Noise: text infilling, then optional token deletion/masking.
    mask_ratio may be a range (low, high): each text then draws its own ratio uniformly, so a
    model trained on it does not learn one fixed ratio of source to target length."""
    sp = special_ids(tokenizer)
    sources, targets, span_masks = [], [], []
    for text in texts:
        ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
        ratio = rng.uniform(*mask_ratio) if isinstance(mask_ratio, (tuple, list)) else mask_ratio
        noised, spans = text_infilling(ids, sp["mask"], ratio, poisson_lambda, rng, return_spans=True)
        if deletion:
            noised = token_deletion(noised, deletion, rng)
        if masking:
            noised = token_masking(noised, sp["mask"], masking, rng)
        inside = np.zeros(len(ids) + 2, dtype=bool)
        for start, length in spans:
            inside[1 + start:1 + start + length] = True
        sources.append([sp["bos"], *noised.tolist(), sp["eos"]])
        targets.append([sp["bos"], *ids.tolist(), sp["eos"]])
        span_masks.append(inside)
    S, T = max(map(len, sources)), max(map(len, targets))
    input_ids = np.full((len(texts), S), sp["pad"], dtype=np.int64)
    attention_mask = np.zeros((len(texts), S), dtype=np.int64)
    labels = np.full((len(texts), T), IGNORE_INDEX, dtype=np.int64)
    span_target = np.zeros((len(texts), T), dtype=bool)
    for r, (s, t, m) in enumerate(zip(sources, targets, span_masks)):
        input_ids[r, :len(s)] = s
        attention_mask[r, :len(s)] = 1
        labels[r, :len(t)] = t
        span_target[r, :len(m)] = m
    return input_ids, attention_mask, labels, span_target


def train_denoiser(model: BartForConditionalGeneration, texts, tokenizer, *, max_iters=500, seconds=None, batch_size=32,
                   lr=1e-3, warmup=50, seed=0, mask_ratio=0.3, log=True, progress=None, **noise):
    """Train to reconstruct texts from their infilled versions (AdamW, warmup + cosine), for
    max_iters updates or `seconds` of wall clock, whichever ends first. Returns the history."""
    from minigrad import optim
    from minigrad.train import train_lm

    rng = np.random.default_rng(seed)
    texts = list(texts)
    pad = special_ids(tokenizer)["pad"]

    def get_batch(split):
        pick = rng.integers(0, len(texts), size=batch_size)
        input_ids, _, labels, _ = denoising_batch([texts[i] for i in pick], tokenizer, rng, mask_ratio, **noise)
        return input_ids, labels

    def loss_fn(m, x, y):  # the padding mask is where the input holds <pad>
        return m(x, attention_mask=(x.numpy() != pad).astype(np.int64), labels=y)[1]

    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup, max_iters, min_lr=lr / 10)
    return train_lm(model, optimizer, get_batch, max_iters, seconds=seconds, scheduler=scheduler, grad_clip=1.0,
                    loss_fn=loss_fn, log=log, desc="bart", progress_bar=progress)


@mg.no_grad()
def reconstruction_accuracy(model, texts, tokenizer, seed=1, mask_ratio=0.3, batch_size=64, **noise) -> dict:
    """On texts corrupted with a fixed seed: exact match of the greedy reconstruction, and the
    teacher-forced token accuracy over all target tokens and over the infilled ones only."""
    rng = np.random.default_rng(seed)
    model.eval()
    exact = tokens = token_hits = span_tokens = span_hits = 0
    examples = []
    for i in range(0, len(texts), batch_size):
        chunk = texts[i:i + batch_size]
        input_ids, attention_mask, labels, span_target = denoising_batch(chunk, tokenizer, rng, mask_ratio, **noise)
        logits, _ = model(input_ids, attention_mask=attention_mask, labels=labels)
        pred = logits.numpy().argmax(-1)
        real = labels != IGNORE_INDEX
        tokens += int(real.sum())
        token_hits += int(((pred == labels) & real).sum())
        span_tokens += int(span_target.sum())
        span_hits += int(((pred == labels) & span_target).sum())
        generated = model.generate(input_ids, attention_mask, max_new_tokens=labels.shape[1])
        for r, text in enumerate(chunk):
            guess = decode_chars(generated[r, 1:], tokenizer)
            exact += guess == text
            if len(examples) < 8:
                examples.append({"corrupted": decode_chars(input_ids[r], tokenizer), "reconstruction": guess,
                                 "original": text})
    return {"exact_match": exact / len(texts), "token_accuracy": token_hits / tokens,
            "infilled_token_accuracy": span_hits / max(span_tokens, 1), "examples": examples}


def decode_chars(ids, tokenizer) -> str:
    """Ids -> text, dropping <s>/<pad>, stopping at </s>, writing masks as '_'."""
    sp = special_ids(tokenizer)
    out = []
    for i in np.asarray(ids).tolist():
        if i == sp["eos"]:
            break
        if i in (sp["bos"], sp["pad"]):
            continue
        out.append("_" if i == sp["mask"] else tokenizer.itos[i])
    return "".join(out)
