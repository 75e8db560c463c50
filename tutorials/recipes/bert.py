"""BERT (models/bert.py) pre-trained with masked-language modelling on a corpus's sentences.

Words are whole tokens (a vocabulary of the corpus's words, `word_tokenizer`), rows
are sentences packed into [CLS] ... [SEP] windows, and every batch is masked afresh (15 %: 80 %
[MASK], 10 % a random word, 10 % kept). "Sampling" from BERT means filling in blanks: the prompt
marks them with [MASK] (or _), and the model's most likely words are shown for each.

Also here, for lesson 7: the word-order task (is a sentence in its original order?), its bag-of-words
baseline, MLM pre-training and classifier fine-tuning loops and their accuracies.
"""
from __future__ import annotations

import re
import time
from collections import namedtuple

import numpy as np

import minigrad as mg
from minigrad_models.bert import IGNORE_INDEX, BertForMaskedLM, BertForSequenceClassification, mask_tokens

from .common import Corpus, TrainSettings, Trained, check_sampling, eval_schedule, reporter, results_of
from .common import model_weights as state_dict  # the module interface's name (see recipes/__init__.py)

PRESETS = {
    "tiny": dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_len=32,
                 batch_size=16, lr=2e-3, iters=300, eval_iters=3, dropout=0.0),
    "small": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512, max_len=64,
                  batch_size=32, lr=1e-3, iters=2000, eval_iters=10, dropout=0.1),
    "base": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, max_len=128,
                 batch_size=64, lr=5e-4, iters=5000, eval_iters=20, dropout=0.1),
}
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def presets(kind: str = "bert") -> dict:
    return PRESETS


def _bert():
    import minigrad_models.bert as bert

    return bert


def build(model_config: dict):
    bert = _bert()
    return bert.BertForMaskedLM(bert.BertConfig(**model_config))


def fit(kind: str, corpus: Corpus, settings: TrainSettings, log=print) -> Trained:
    bert = _bert()
    preset = PRESETS[settings.size]
    iters = settings.pick(preset, "iters")
    if iters < 1:
        raise ValueError(f"train bert: --iters must be >= 1, got {iters}")
    say = reporter(log)
    sentences = split_sentences(corpus.text)
    if len(sentences) < 20:
        raise ValueError(f"train bert: the corpus has {len(sentences)} sentences; masked-LM training needs many "
                         "(sentences end with . ! or ?)")
    cut = int(0.9 * len(sentences))
    train_sents, val_sents = sentences[:cut], sentences[cut:]
    # every word of a small corpus; words seen once are [UNK] in a large one (tiny Shakespeare: ~25k words)
    tokenizer = word_tokenizer(" ".join(train_sents), min_count=1 if len(corpus.text) < 500_000 else 2)
    max_len = preset["max_len"]
    train_rows = pack_sentences(train_sents, tokenizer, max_len)
    val_rows = pack_sentences(val_sents, tokenizer, max_len)
    config = dict(vocab_size=tokenizer.vocab_size, hidden_size=preset["hidden_size"],
                  num_hidden_layers=preset["num_hidden_layers"], num_attention_heads=preset["num_attention_heads"],
                  intermediate_size=preset["intermediate_size"], max_position_embeddings=max_len,
                  hidden_dropout_prob=preset["dropout"], attention_probs_dropout_prob=preset["dropout"],
                  pad_token_id=tokenizer.pad_token_id)
    mg.manual_seed(settings.seed)
    model = build(config).to(settings.device)
    prompt = _default_prompt(val_sents, tokenizer, max_len)
    trained = Trained(kind, model, tokenizer, {"model": config, "sample_prompt": prompt})

    def on_eval(line):
        say(line)
        if settings.sample_tokens:
            say("  " + generate(trained, prompt, 0, temperature=0, top_k=3, seed=settings.seed).replace("\n", "\n  "))

    batch_size = settings.pick(preset, "batch_size")
    lr = settings.pick(preset, "lr")
    t0 = time.perf_counter()
    history = pretrain_mlm(model, train_rows, tokenizer, max_iters=iters, batch_size=batch_size, lr=lr,
                                warmup=min(30, iters // 10), seed=settings.seed, val_rows=val_rows,
                                eval_interval=eval_schedule(settings, preset, iters),
                                eval_iters=settings.pick(preset, "eval_iters"), log=on_eval,
                                progress=settings.progress)
    seconds = time.perf_counter() - t0
    val_loss, val_acc = mlm_accuracy(model, val_rows, tokenizer)
    trained.history = history
    results = results_of(history, seconds)
    results.update(val_mlm_loss=round(val_loss, 4), val_mlm_accuracy=round(val_acc, 4))
    say(f"masked words on the validation sentences: loss {val_loss:.4f}, accuracy {val_acc:.1%}")
    trained.config = {
        "size": settings.size, "model": config,
        "training": dict(iters=iters, batch_size=batch_size, max_len=max_len, lr=lr, seed=settings.seed,
                         device=settings.device, objective="masked LM, 15% (80/10/10), masked afresh each batch"),
        "corpus": {"spec": corpus.spec, "source": corpus.source, "chars": len(corpus.text)},
        "sample_prompt": prompt, "results": results,
    }
    return trained


def _default_prompt(sentences, tokenizer, max_len: int) -> str:
    """A validation sentence (one line, short enough to read whole) with one longer word blanked out."""
    one_line = [s for s in sentences if "\n" not in s]
    for s in one_line + [s for s in sentences if "\n" in s]:
        words = s.split()
        picks = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 3 and w.lower() in tokenizer.vocab]
        if len(words) >= 4 and picks and len(tokenizer.encode(s)) <= max_len:
            words[picks[len(picks) // 2]] = "[MASK]"
            return " ".join(words)
    return "the [MASK] ."


def tokenizer_json(trained: Trained) -> dict:
    tok = trained.tokenizer
    tokens = [t for t, _ in sorted(tok.vocab.items(), key=lambda item: item[1])]
    return {"type": "wordpiece", "version": 1, "tokens": tokens, "lowercase": tok.lowercase}


def restore(kind: str, config: dict, tok_json: dict, state: dict, device: str) -> Trained:
    from minigrad.data import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(tok_json["tokens"], lowercase=tok_json.get("lowercase", True))
    model = build(config["model"])
    model.load_state_dict(state)
    return Trained(kind, model.to(device).eval(), tokenizer, config)


@mg.no_grad()
def generate(trained: Trained, prompt: str | None, tokens: int = 0, temperature: float = 0.0, top_k: int | None = 5,
             seed: int = 0) -> str:
    """Fill every [MASK] (or _) of the prompt: the sentence with the blanks filled (the most likely
    word at temperature 0, else one drawn from softmax(logits / T) over the top k), then the top k
    candidates of each blank with their probabilities. `tokens` is not used (BERT fills, it does not
    continue)."""
    check_sampling(temperature, top_k, tokens)
    tok, model = trained.tokenizer, trained.model
    text = (prompt or trained.config.get("sample_prompt") or "").replace("_", " [MASK] ")
    ids = np.asarray(tok.encode(text), dtype=np.int64)[None, :]
    max_len = trained.config["model"]["max_position_embeddings"]
    if ids.shape[1] > max_len:
        raise ValueError(f"--prompt is {ids.shape[1]} tokens long; this BERT reads at most {max_len}")
    blanks = np.flatnonzero(ids[0] == tok.mask_token_id)
    if len(blanks) == 0:
        raise ValueError(f"--prompt {prompt!r} has no blank: mark the words BERT should guess with [MASK] or _ "
                         "(e.g. --prompt \"the cat [MASK] the fish .\")")
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(ids, attention_mask=np.ones_like(ids))
    finally:
        model.train(was_training)
    logits = logits.numpy()[0].astype(np.float64)
    rng = np.random.default_rng(seed)
    k = top_k or 5
    filled = ids[0].copy()
    lines = []
    for n, pos in enumerate(blanks, 1):
        row = logits[pos].copy()
        row[[tok.vocab[s] for s in SPECIALS if s in tok.vocab]] = -np.inf  # a blank is a word
        p = np.exp(row - row.max())
        p /= p.sum()
        best = np.argsort(-p)[:k]
        if temperature == 0:
            filled[pos] = best[0]
        else:
            q = np.exp(np.log(p[best] + 1e-30) / temperature)
            filled[pos] = best[rng.choice(len(best), p=q / q.sum())]
        words = ", ".join(f"{tok.ids_to_tokens[int(i)]} {p[i]:.2f}" for i in best)
        lines.append(f"blank {n}: {words}")
    # an unknown word stays visible as [UNK] (dropping it would hide that BERT never read it)
    shown = [i for i in filled.tolist() if i not in (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id)]
    unknown = [w for w in text.split() if tok.unk_token in tok.tokenize(w)]
    if unknown:
        lines.append(f"note: not in this BERT's vocabulary, so read as [UNK]: {', '.join(unknown)} "
                     f"(it knows {tok.vocab_size:,} words of its training text)")
    return "\n".join([tok.decode(shown)] + lines)


def loss_on_example(trained: Trained, text: str = "the cat [MASK] the fish ."):
    """The masked-LM loss of one short sentence whose blank is labelled with the prompt's own guess
    (for drawing its graph: what matters is the path from the loss back to the weights)."""
    tok = trained.tokenizer
    ids = np.asarray([tok.encode(text)], dtype=np.int64)
    labels = np.full_like(ids, _bert().IGNORE_INDEX)
    blank = ids[0] == tok.mask_token_id
    labels[0, blank] = tok.vocab.get("the", tok.unk_token_id)
    return trained.model(ids, attention_mask=np.ones_like(ids), labels=labels)[1]


def split_sentences(text: str) -> list[str]:
    """Sentences of plain prose: cut after . ! or ? followed by white space."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def word_tokenizer(text: str, min_count: int = 1):
    """A WordPieceTokenizer whose vocabulary is the specials plus every word (and punctuation mark)
    of `text` seen at least `min_count` times: whole words, no pieces, for a small corpus."""
    from collections import Counter

    from minigrad.data.tokenizers.wordpiece import WordPieceTokenizer, basic_tokenize

    counts = Counter(basic_tokenize(text))
    words = sorted(w for w, c in counts.items() if c >= min_count)
    return WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)


def pack_sentences(sentences, tokenizer, max_len: int) -> np.ndarray:
    """[CLS] s1 s2 ... [SEP] rows of at most max_len ids, whole sentences packed greedily (a
    sentence longer than a row is cut), padded with [PAD]: (N, max_len) int64."""
    rows, current = [], []
    budget = max_len - 2
    for s in sentences:
        ids = tokenizer.encode(s, add_special_tokens=False)[:budget]
        if current and len(current) + len(ids) > budget:
            rows.append(current)
            current = []
        current = current + ids
    if current:
        rows.append(current)
    out = np.full((len(rows), max_len), tokenizer.pad_token_id, dtype=np.int64)
    for r, ids in enumerate(rows):
        seq = [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id]
        out[r, :len(seq)] = seq
    return out


def pad_batch(sequences, pad_id: int, max_len: int | None = None) -> np.ndarray:
    width = max(len(s) for s in sequences) if max_len is None else max_len
    out = np.full((len(sequences), width), pad_id, dtype=np.int64)
    for r, s in enumerate(sequences):
        out[r, :min(len(s), width)] = s[:width]
    return out


# ---------------------------------------------------------------------- a task that needs word order
def word_order_task(sentences, tokenizer, seed: int = 0, min_words: int = 4, max_len: int = 32,
                    adjacent: bool = False):
    """Is this sentence in its original order (label 1), or were two of its words swapped (label 0)?

    Half the sentences get one swap of two different words (adjacent ones with adjacent=True,
    the harder variant: fewer broken word pairs to notice). A swapped sentence has
    exactly the bag of words of its original, so a bag-of-words classifier can do no better
    than chance: the task needs the order that BERT's positions carry. Returns a WordOrderTask:
    ids (N, max_len) int64 ([CLS] ... [SEP], padded), labels (N,) int64, words (the tokens of
    each example, for display) and source (the index of the sentence each example came from).
    """
    rng = np.random.default_rng(seed)
    examples, labels, shown, source = [], [], [], []
    for index, s in enumerate(sentences):
        words = tokenizer.tokenize(s)
        content = [i for i, w in enumerate(words) if w.isalpha()]
        if len(content) < min_words or len(words) > max_len - 2:
            continue
        label = 1
        if rng.random() < 0.5:
            if adjacent:
                pairs = [(i, i + 1) for i in content if i + 1 in content and words[i] != words[i + 1]]
            else:
                pairs = [(i, j) for i in content for j in content if i < j and words[i] != words[j]]
            if not pairs:
                continue
            i, j = pairs[rng.integers(len(pairs))]
            words = list(words)
            words[i], words[j] = words[j], words[i]
            label = 0
        ids = [tokenizer.cls_token_id] + tokenizer.convert_tokens_to_ids(words) + [tokenizer.sep_token_id]
        examples.append(ids)
        labels.append(label)
        shown.append(words)
        source.append(index)
    return WordOrderTask(pad_batch(examples, tokenizer.pad_token_id, max_len), np.asarray(labels, dtype=np.int64),
                         shown, np.asarray(source, dtype=np.int64))


def bag_of_words_accuracy(train_ids, train_labels, test_ids, test_labels, vocab_size, steps=300, lr=0.5):
    """A logistic regression on word counts (numpy, full-batch gradient descent): the baseline
    that sees which words occur but not their order."""
    def counts(ids):
        c = np.zeros((len(ids), vocab_size))
        np.add.at(c, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.reshape(-1)), 1.0)
        return c / np.maximum(c.sum(1, keepdims=True), 1)

    Xtr, Xte = counts(train_ids), counts(test_ids)
    w, b = np.zeros(vocab_size), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(Xtr @ w + b)))
        g = p - train_labels
        w -= lr * (Xtr.T @ g / len(g) + 1e-4 * w)
        b -= lr * g.mean()
    return float((((Xte @ w + b) > 0).astype(int) == test_labels).mean())


# ---------------------------------------------------------------------- training recipes
def _pad_mask(x, pad_id):
    return (x.numpy() != pad_id).astype(np.int64)


def pretrain_mlm(model: BertForMaskedLM, rows: np.ndarray, tokenizer, *, max_iters=300, seconds=None, batch_size=32,
                 lr=1e-3, warmup=30, seed=0, val_rows=None, eval_interval=None, eval_iters=5, log=True, progress=None):
    """Masked-LM pre-training with AdamW and a warmup + cosine schedule (minigrad.train.train_lm),
    for max_iters updates or `seconds` of wall clock, whichever ends first; `progress`: the bar
    (None: on a terminal).

    Every batch is masked afresh (`mask_tokens`), as RoBERTa does (BERT masked once, offline).
    Returns train_lm's history."""
    from minigrad import optim
    from minigrad.train import train_lm

    rng = np.random.default_rng(seed)
    special = tokenizer.all_special_ids
    pad = tokenizer.pad_token_id
    splits = {"train": rows, "val": val_rows if val_rows is not None else rows}

    def get_batch(split):
        data = splits[split]
        batch = data[rng.integers(0, len(data), size=batch_size)]
        return mask_tokens(batch, mask_token_id=tokenizer.mask_token_id, vocab_size=tokenizer.vocab_size,
                           special_ids=special, rng=rng)

    def loss_fn(m, x, y):
        return m(x, attention_mask=_pad_mask(x, pad), labels=y)[1]

    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup, max_iters, min_lr=lr / 10)
    return train_lm(model, optimizer, get_batch, max_iters, seconds=seconds, scheduler=scheduler, grad_clip=1.0,
                    eval_interval=eval_interval, eval_iters=eval_iters, loss_fn=loss_fn, log=log, desc="mlm",
                    progress_bar=progress)


def finetune_classifier(model: BertForSequenceClassification, ids, labels, pad_id, *, max_iters=200, seconds=None,
                        batch_size=32, lr=5e-4, warmup=20, seed=0, log=True, progress=None):
    """Fine-tune every weight on (ids, labels) with AdamW, warmup + cosine, for max_iters updates
    or `seconds` of wall clock, whichever ends first. Returns the history."""
    from minigrad import optim
    from minigrad.train import train_lm

    rng = np.random.default_rng(seed)

    def get_batch(split):
        pick = rng.integers(0, len(ids), size=batch_size)
        return ids[pick], labels[pick]

    def loss_fn(m, x, y):
        return m(x, attention_mask=_pad_mask(x, pad_id), labels=y)[1]

    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup, max_iters, min_lr=lr / 10)
    return train_lm(model, optimizer, get_batch, max_iters, seconds=seconds, scheduler=scheduler, grad_clip=1.0,
                    loss_fn=loss_fn, log=log, desc="fine-tune", progress_bar=progress)


@mg.no_grad()
def classification_accuracy(model, ids, labels, pad_id, batch_size=256) -> float:
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(ids), batch_size):
        x = ids[i:i + batch_size]
        logits, _ = model(x, attention_mask=(x != pad_id).astype(np.int64))
        correct += int((logits.numpy().argmax(-1) == labels[i:i + batch_size]).sum())
    model.train(was)
    return correct / max(len(ids), 1)


@mg.no_grad()
def mlm_accuracy(model, rows, tokenizer, seed=1, batch_size=128) -> tuple[float, float]:
    """(loss, accuracy) of the masked-token predictions on `rows`, masked with a fixed seed."""
    was = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    total_loss, correct, count = 0.0, 0, 0
    for i in range(0, len(rows), batch_size):
        x, y = mask_tokens(rows[i:i + batch_size], mask_token_id=tokenizer.mask_token_id,
                           vocab_size=tokenizer.vocab_size, special_ids=tokenizer.all_special_ids, rng=rng)
        logits, loss = model(x, attention_mask=(x != tokenizer.pad_token_id).astype(np.int64), labels=y)
        n = int((y != IGNORE_INDEX).sum())
        total_loss += loss.item() * n
        correct += int(((logits.numpy().argmax(-1) == y) & (y != IGNORE_INDEX)).sum())
        count += n
    model.train(was)
    return total_loss / count, correct / count


WordOrderTask = namedtuple("WordOrderTask", ["ids", "labels", "words", "source"])
