"""BERT (models/bert.py) pre-trained with masked-language modelling on a corpus's sentences.

Words are whole tokens (a vocabulary of the corpus's words, `minigrad_models.bert.word_tokenizer`), rows
are sentences packed into [CLS] ... [SEP] windows, and every batch is masked afresh (15 %: 80 %
[MASK], 10 % a random word, 10 % kept). "Sampling" from BERT means filling in blanks: the prompt
marks them with [MASK] (or _), and the model's most likely words are shown for each.
"""
from __future__ import annotations

import time

import numpy as np

import minigrad as mg

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
    sentences = bert.split_sentences(corpus.text)
    if len(sentences) < 20:
        raise ValueError(f"train bert: the corpus has {len(sentences)} sentences; masked-LM training needs many "
                         "(sentences end with . ! or ?)")
    cut = int(0.9 * len(sentences))
    train_sents, val_sents = sentences[:cut], sentences[cut:]
    # every word of a small corpus; words seen once are [UNK] in a large one (tiny Shakespeare: ~25k words)
    tokenizer = bert.word_tokenizer(" ".join(train_sents), min_count=1 if len(corpus.text) < 500_000 else 2)
    max_len = preset["max_len"]
    train_rows = bert.pack_sentences(train_sents, tokenizer, max_len)
    val_rows = bert.pack_sentences(val_sents, tokenizer, max_len)
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
    history = bert.pretrain_mlm(model, train_rows, tokenizer, max_iters=iters, batch_size=batch_size, lr=lr,
                                warmup=min(30, iters // 10), seed=settings.seed, val_rows=val_rows,
                                eval_interval=eval_schedule(settings, preset, iters),
                                eval_iters=settings.pick(preset, "eval_iters"), log=on_eval,
                                progress=settings.progress)
    seconds = time.perf_counter() - t0
    val_loss, val_acc = bert.mlm_accuracy(model, val_rows, tokenizer)
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
