"""What every model kind of the zoo shares: the corpus, the training settings, the checkpoint folder.

A checkpoint is a folder that needs nothing but this package to read back (nothing unpickles):

    config.json        {"format": "minigrad-checkpoint", "kind", "size", "model": {...},
                        "training": {...}, "corpus": {...}, "results": {...}}
    model.safetensors  the weights, through minigrad.io
    tokenizer.json     the vocabulary (CharTokenizer's JSON, or a word list for BERT)
    training_state.safetensors   optimizer, scheduler, step and random states (rnn, lstm, gru, gpt):
                       what `minigrad train KIND --resume FOLDER` continues from
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "minigrad-checkpoint"
TRAINING_STATE = "training_state.safetensors"  # optimizer, scheduler, step, random states: for --resume
SIZES = ("tiny", "small", "base", "gpu")
# characters of the built-in text each size trains on (a real corpus is used whole)
BUILTIN_CHARS = {"tiny": 50_000, "small": 300_000, "base": 1_000_000, "gpu": 1_000_000}


# -- the corpus --------------------------------------------------------------------------------------
@dataclass
class Corpus:
    text: str
    spec: str          # what the user asked for: "builtin", "names", a path
    source: str        # where the text came from, for config.json and the report


def load_corpus(spec: str = "builtin", size: str = "small") -> Corpus:
    """`builtin`: the project's generated English-like text (minigrad.data.builtin_text);
    `builtin-names`: its generated names, one a line; a path to a text file; or a bare name
    such as `names` / `tinyshakespeare`, read from $MINIGRAD_DATA."""
    from minigrad.data import builtin_names, builtin_text, load_text

    if spec == "builtin":
        n = BUILTIN_CHARS[size]
        return Corpus(builtin_text(n, seed=0), spec, f"builtin_text({n}, seed=0)")
    if spec == "builtin-names":
        n = BUILTIN_CHARS[size] // 7  # about as many characters as the text
        return Corpus("\n".join(builtin_names(n, seed=0)) + "\n", spec, f"builtin_names({n}, seed=0)")
    try:
        text = load_text(spec)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"--corpus {spec}: {e} Or use --corpus builtin (the default), which needs no files.") \
            from None
    path = Path(spec).expanduser()
    source = str(path.resolve()) if path.is_file() else f"{spec} from $MINIGRAD_DATA"
    if len(text) < 1000:
        raise ValueError(f"--corpus {spec}: the text has only {len(text)} characters; a language model needs "
                         "thousands (tiny Shakespeare has a million)")
    return Corpus(text, spec, source)


def split_text(text: str, frac: float = 0.9) -> tuple[str, str]:
    from minigrad.data import train_val_split

    return train_val_split(text, frac)


# -- settings and results ----------------------------------------------------------------------------
@dataclass
class TrainSettings:
    """What `minigrad train` was asked for; None means the size preset's value."""
    size: str = "small"
    iters: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_decay_iters: int | None = None  # the cosine's length (nanoGPT's name); None: iters
    eval_interval: int | None = None
    eval_iters: int | None = None
    sample_tokens: int = 100      # characters/words of the sample shown at each evaluation; 0: none
    seed: int = 0
    device: str = "cpu"
    progress: bool | None = None  # the progress bar: None decides from the terminal
    resume: str | None = None     # a checkpoint folder to continue training from (--resume)

    def pick(self, preset: dict, name: str):
        value = getattr(self, name)
        return preset[name] if value is None else value


@dataclass
class Trained:
    """A model with what it needs to be used, saved and described."""
    kind: str
    model: object
    tokenizer: object
    config: dict                                     # config.json's content
    history: dict = field(default_factory=dict)      # train_lm's history (not saved)
    training_state: dict = field(default_factory=dict)  # what --resume needs (training_state.safetensors)


def eval_schedule(settings: TrainSettings, preset: dict, iters: int) -> int:
    """Evaluate about ten times over a run, unless told otherwise."""
    interval = settings.eval_interval or preset.get("eval_interval") or max(1, iters // 10)
    if interval < 1:
        raise ValueError(f"--eval-interval must be >= 1, got {interval}")
    return interval


def reporter(log):
    """A function that prints a line above the progress bar (tqdm.write when a bar may be
    showing, so the bar is redrawn under it), or hands it to `log` when that is a callable."""
    if callable(log) and log is not print:
        return log
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return lambda line: print(line, flush=True)
    return lambda line: tqdm.write(line)


def results_of(history: dict, seconds: float) -> dict:
    """The numbers config.json keeps about a training run."""
    out = {"seconds": round(seconds, 1)}
    if history.get("val_loss"):
        out["train_loss"] = round(float(history["train_loss"][-1]), 4)
        out["val_loss"] = round(float(history["val_loss"][-1]), 4)
    tps = history.get("tokens_per_s")
    if tps is not None and not (isinstance(tps, float) and math.isnan(tps)):
        out["tokens_per_s"] = round(float(tps), 1)
    return out


# -- devices -------------------------------------------------------------------------------------------
def check_device(device: str) -> str:
    from minigrad import backend

    device = backend.normalize_device(device)
    if device == "cuda" and not backend.cuda_is_available():
        raise RuntimeError("--device cuda: no usable GPU here (it needs an NVIDIA GPU and cupy: "
                           'pip install "minigrad[gpu]"); use --device cpu')
    return device


# -- sampling ------------------------------------------------------------------------------------------
def check_sampling(temperature: float, top_k: int | None, tokens: int) -> None:
    if temperature < 0:
        raise ValueError(f"--temperature must be >= 0 (0 picks the most likely token), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    if tokens < 0:
        raise ValueError(f"--tokens must be >= 0, got {tokens}")


# -- the checkpoint folder -----------------------------------------------------------------------------
# -- what the character-level kinds write and read alike ---------------------------------------------
def model_weights(trained: Trained) -> dict:
    """The state_dict of a trained network (every kind but the counted n-gram)."""
    return trained.model.state_dict()


def char_tokenizer_json(trained: Trained) -> dict:
    tok = trained.tokenizer
    return {"type": "char", "version": 1, "itos": tok.itos, "n_specials": len(tok.specials)}


def char_tokenizer_from_json(tok_json: dict):
    from minigrad.data import CharTokenizer

    return CharTokenizer.from_vocab(tok_json["itos"], tok_json.get("n_specials", 0))


def write_checkpoint(folder, trained: Trained, state_dict: dict, tokenizer_json: dict) -> Path:
    from minigrad import io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(trained.config, format=FORMAT, version=1, kind=trained.kind,
                  created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    io.save(state_dict, folder / "model.safetensors", metadata={"kind": trained.kind})
    if trained.training_state:
        io.save(trained.training_state, folder / TRAINING_STATE)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=_jsonable), encoding="utf-8")
    return folder


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"config.json: cannot store a {type(value).__name__}")


def read_checkpoint(folder) -> tuple[dict, dict, dict]:
    """(config, tokenizer_json, state_dict of numpy arrays) of a checkpoint folder."""
    from minigrad import io

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--checkpoint {folder}: no such folder; `minigrad train KIND --out {folder}` "
                                "writes one")
    missing = [n for n in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"--checkpoint {folder}: {', '.join(missing)} missing; a checkpoint folder has "
                                "config.json, model.safetensors and tokenizer.json, as `minigrad train` writes them")
    config = _read_json(folder, "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"--checkpoint {folder}: config.json is not a minigrad checkpoint's (no "
                         f"\"format\": \"{FORMAT}\"); a Hugging Face folder loads with GPT.from_hf / "
                         "from_pretrained instead")
    tokenizer_json = _read_json(folder, "tokenizer.json")
    weights_kind = io.load_metadata(folder / "model.safetensors").get("kind")
    if weights_kind and weights_kind != config.get("kind"):
        raise ValueError(f"--checkpoint {folder}: config.json says kind {config.get('kind')!r}, but model.safetensors "
                         f"holds the weights of a {weights_kind!r} model; the two files come from different checkpoints "
                         "(put back the config.json written with these weights)")
    return config, tokenizer_json, io.load(folder / "model.safetensors")


def read_training_state(folder) -> dict:
    """The optimizer, scheduler, step and random states `--resume` continues from."""
    from minigrad import io

    path = Path(folder) / TRAINING_STATE
    if not path.is_file():
        raise FileNotFoundError(f"--resume {folder}: no {TRAINING_STATE} there; `minigrad train` writes it beside the "
                                "weights (kinds rnn, lstm, gru, gpt), and checkpoints written before it cannot resume")
    return io.load(path)


def _read_json(folder: Path, name: str):
    """A checkpoint's JSON file; a damaged one is an error that names it, not a parser's traceback."""
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" (line {e.lineno}, column {e.colno}: {e.msg})" if isinstance(e, json.JSONDecodeError) else ""
        raise ValueError(f"--checkpoint {folder}: {name} is not valid JSON{where}; it may have been cut short "
                         f"or edited by hand. `minigrad train` writes it whole") from None
