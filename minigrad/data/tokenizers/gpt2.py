"""GPT-2's tokenizer: byte-level BPE read from its `vocab.json` and `merges.txt`.

    tok = GPT2Tokenizer.from_pretrained("path/to/gpt2")     # a folder with vocab.json + merges.txt
    ids = tok.encode("Hello world")                          # [15496, 995] with GPT-2's own files
    tok.decode(ids)                                          # "Hello world"

Three steps, as in Radford et al.'s encoder.py (and Hugging Face's GPT2Tokenizer, which the tests
match id for id):
1. the text is cut into pieces by a regex: contractions ('s 't 're 've 'm 'll 'd), runs of
   letters, runs of digits, runs of other symbols (each with the space before it), whitespace;
2. each piece's UTF-8 bytes are written as printable characters (`bytes_to_unicode`: the 188
   printable bytes stand for themselves, the other 68 are shifted to code points 256 and up, so
   a space is 'Ġ'), which is the alphabet vocab.json and merges.txt are written in;
3. the merges are applied by rank: repeatedly, the adjacent pair that was learned first is joined,
   everywhere in the piece, until no learned pair is left; each resulting symbol is one id.
Special tokens (`<|endoftext|>`) written in the text are kept whole and get their own id.
Decoding joins the symbols and maps the characters back to bytes.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ._common import as_id_list

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Byte -> a printable character standing for it (GPT-2's table)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    shift = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + shift)
            shift += 1
    return dict(zip(printable, map(chr, chars)))


@lru_cache(maxsize=1)
def _pattern():
    """GPT-2's regex: with the `regex` package (which knows \\p{L} and \\p{N}) when it is installed,
    else the same classes spelled for Python's `re` (`exact_re_pattern`)."""
    try:
        import regex  # noqa: PLC0415  (optional: transformers brings it)
    except ImportError:
        return re.compile(exact_re_pattern())
    return regex.compile(GPT2_PATTERN)


def _numeric_non_decimal() -> str:
    """A character class of Unicode's Nl and No characters (Roman numerals, superscripts, fractions):
    numbers to \\p{N}, but neither \\d nor letters, while `re`'s \\w counts them as word characters."""
    import unicodedata  # noqa: PLC0415

    ranges, start, prev = [], None, None
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) in ("Nl", "No"):
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    ranges.append((start, prev))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


# Unicode's White_Space, which `regex` means by \s; `re`'s \s also takes U+001C-U+001F (isspace())
WHITE_SPACE = r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


@lru_cache(maxsize=1)
def exact_re_pattern() -> str:
    r"""GPT2_PATTERN for Python's `re`: \p{L} is `re`'s word characters minus digits, underscore and
    the Nl/No numbers; \p{N} is \d plus those numbers; \s is White_Space. (Built once, in a
    fraction of a second.)"""
    nums = _numeric_non_decimal()
    letter = rf"(?:(?![{nums}])[^\W\d_])"
    number = rf"(?:\d|[{nums}])"
    space, other = WHITE_SPACE, rf"(?:(?!{WHITE_SPACE})[\s\S])"
    symbol = rf"(?:(?!{letter}|{number}|{space})[\s\S])"
    return rf"""'s|'t|'re|'ve|'m|'ll|'d| ?{letter}+| ?{number}+| ?{symbol}+|{space}+(?!{other})|{space}+"""


def read_merges(path) -> list[tuple[str, str]]:
    """merges.txt: one learned pair a line, "first second", in the order they were learned (a
    "#version" line at the top is skipped)."""
    merges = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip() or (n == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"GPT2Tokenizer: line {n} of {str(path)!r} is not a pair 'first second': {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


class GPT2Tokenizer:
    """GPT-2's byte-level BPE from vocab.json (symbol -> id) and merges.txt (pairs by rank)."""

    def __init__(self, vocab_file, merges_file, errors="replace", unk_token="<|endoftext|>",
                 bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token=None, add_prefix_space=False,
                 additional_special_tokens=()):
        vocab = json.loads(Path(vocab_file).read_text(encoding="utf-8")) if not isinstance(vocab_file, dict) else vocab_file
        merges = read_merges(merges_file) if not isinstance(merges_file, (list, tuple)) else list(merges_file)
        self.encoder: dict[str, int] = dict(vocab)
        self.decoder: dict[int, str] = {i: s for s, i in self.encoder.items()}
        self.bpe_ranks = {tuple(pair): rank for rank, pair in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.errors, self.add_prefix_space = errors, add_prefix_space
        self.unk_token, self.bos_token, self.eos_token, self.pad_token = unk_token, bos_token, eos_token, pad_token
        specials = [t for t in (unk_token, bos_token, eos_token, pad_token, *additional_special_tokens) if t]
        missing = [t for t in specials if t not in self.encoder]
        if missing:
            raise ValueError(f"GPT2Tokenizer: special tokens {missing} are not in the vocabulary "
                             f"({len(self.encoder)} entries); add them to vocab.json or leave them out")
        self.special_tokens = list(dict.fromkeys(specials))
        longest_first = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")") if specials else None
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_pretrained(cls, folder, **kwargs):
        """Read vocab.json and merges.txt from a folder (e.g. a downloaded GPT-2 checkpoint)."""
        folder = Path(folder)
        for name in ("vocab.json", "merges.txt"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"GPT2Tokenizer.from_pretrained: no {name} in {str(folder)!r}")
        return cls(folder / "vocab.json", folder / "merges.txt", **kwargs)

    def save_pretrained(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.encoder, ensure_ascii=False), encoding="utf-8")
        ranked = sorted(self.bpe_ranks, key=self.bpe_ranks.get)
        (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in ranked), encoding="utf-8")

    # -- sizes and names -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def __len__(self):
        return len(self.encoder)

    @property
    def eos_token_id(self):
        return self.encoder.get(self.eos_token) if self.eos_token else None

    @property
    def bos_token_id(self):
        return self.encoder.get(self.bos_token) if self.bos_token else None

    @property
    def pad_token_id(self):
        return self.encoder.get(self.pad_token) if self.pad_token else None

    @property
    def all_special_ids(self) -> list[int]:
        return [self.encoder[t] for t in self.special_tokens]

    # -- text to ids ------------------------------------------------------------------------------
    def bpe(self, piece: str) -> list[str]:
        """The symbols of one pre-token (already in the byte alphabet) after every learned merge."""
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = list(piece)
        while len(word) > 1:
            ranked = [(self.bpe_ranks.get(pair, float("inf")), pair) for pair in zip(word, word[1:])]
            rank, (first, second) = min(ranked, key=lambda r: r[0])
            if rank == float("inf"):
                break
            merged, i = [], 0
            while i < len(word):  # join every occurrence of the pair, left to right
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[piece] = word
        return word

    def tokenize(self, text: str) -> list[str]:
        """Text -> the vocabulary's symbols (special tokens kept whole)."""
        if self.add_prefix_space and text and not text[0].isspace():
            text = " " + text
        symbols = []
        for part in (self._special_re.split(text) if self._special_re else [text]):
            if not part:
                continue
            if part in self.special_tokens:
                symbols.append(part)
                continue
            for piece in _pattern().findall(part):
                symbols.extend(self.bpe("".join(self.byte_encoder[b] for b in piece.encode("utf-8"))))
        return symbols

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self._id(tokens)
        return [self._id(t) for t in tokens]

    def _id(self, symbol):
        i = self.encoder.get(symbol)
        if i is None:
            if self.unk_token is None:
                raise KeyError(f"GPT2Tokenizer: {symbol!r} is not in the vocabulary and there is no unk_token")
            return self.encoder[self.unk_token]
        return i

    def encode(self, text: str) -> list[int]:
        """Text -> ids. GPT-2 adds no special tokens of its own; write "<|endoftext|>" where one belongs."""
        if not isinstance(text, str):
            raise TypeError(f"GPT2Tokenizer.encode: expected a str, got {type(text).__name__}")
        return [self._id(s) for s in self.tokenize(text)]

    def __call__(self, text):
        return self.encode(text)

    # -- ids to text ------------------------------------------------------------------------------
    def convert_ids_to_tokens(self, ids):
        return [self.decoder[i] for i in as_id_list(ids, "GPT2Tokenizer.convert_ids_to_tokens", self._id_bound())]

    def _id_bound(self) -> int:
        return max(self.decoder) + 1 if self.decoder else 0

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Ids -> text. Bytes that do not form valid UTF-8 (a piece of a character) become U+FFFD
        with errors="replace" (GPT-2's default)."""
        ids = as_id_list(ids, "GPT2Tokenizer.decode", self._id_bound())
        unknown = [i for i in ids if i not in self.decoder]
        if unknown:
            raise ValueError(f"GPT2Tokenizer.decode: ids {unknown[:5]} are not in the vocabulary")
        special = set(self.all_special_ids)
        data = bytearray()
        for i in ids:
            symbol = self.decoder[i]
            if i in special:  # written as plain text, not in the byte alphabet
                if not skip_special_tokens:
                    data += symbol.encode("utf-8")
            else:
                data += bytes(self.byte_decoder[c] for c in symbol)
        return data.decode("utf-8", errors=self.errors)
