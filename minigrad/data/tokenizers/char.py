"""Character-level tokenizer: one id per distinct character."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._common import as_id_list, read_json, write_json


class CharTokenizer:
    """Maps each character of a fixed alphabet to an id.

    Built from the text it will encode: a string, or a list of strings (e.g. names).
    The alphabet is sorted by code point, after any `specials`, so the same text always
    gives the same ids::

        tok = CharTokenizer(words, specials=["."])   # makemore: '.'=0, 'a'=1, ..., 'z'=26
        tok.encode("emma")  -> [5, 13, 13, 1]

    A special is a token that never appears inside the text and marks something else
    (makemore's '.' marks the start and end of a name). It may be longer than one
    character; `encode` never produces it, `decode` writes it out.
    """

    def __init__(self, text: str | Iterable[str] = "", specials: Sequence[str] = ()):
        pieces = [text] if isinstance(text, str) else list(text)
        for i, piece in enumerate(pieces):
            if not isinstance(piece, str):
                raise TypeError(
                    f"CharTokenizer: expected a string or a list of strings, got {type(piece).__name__} at index {i}"
                )
        chars = sorted(set().union(*map(set, pieces))) if pieces else []
        specials = list(specials)
        self._set_vocab(specials + [c for c in chars if c not in specials], n_specials=len(specials))

    @classmethod
    def from_vocab(cls, itos: Sequence[str], n_specials: int = 0) -> "CharTokenizer":
        """A tokenizer with exactly this id -> token list (the first `n_specials` are specials)."""
        tok = cls.__new__(cls)
        tok._set_vocab(list(itos), n_specials)
        return tok

    def _set_vocab(self, itos: list[str], n_specials: int) -> None:
        if len(set(itos)) != len(itos):
            raise ValueError("CharTokenizer: the vocabulary has repeated tokens")
        for i, token in enumerate(itos[n_specials:]):
            if not isinstance(token, str) or len(token) != 1:
                raise ValueError(f"CharTokenizer: vocabulary entry {i + n_specials} is {token!r}, not one character")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(itos)}
        self.specials: list[str] = itos[:n_specials]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[c] for c in text]
        except KeyError:
            pass
        # slow path only to build a helpful message
        for position, c in enumerate(text):
            if c not in stoi:
                raise ValueError(
                    f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X}) at position {position} is not in the "
                    f"vocabulary of {self.vocab_size} characters; build the tokenizer from text that contains it"
                )
        raise AssertionError("unreachable")

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in as_id_list(ids, "CharTokenizer.decode", self.vocab_size))

    def save(self, path) -> None:
        write_json(path, {"type": "char", "version": 1, "itos": self.itos, "n_specials": len(self.specials)})

    @classmethod
    def load(cls, path) -> "CharTokenizer":
        payload = read_json(path, "char", "CharTokenizer.load")
        return cls.from_vocab(payload["itos"], payload.get("n_specials", 0))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, specials={self.specials})"
