"""Byte-level byte-pair encoding (BPE), trained from scratch, as in GPT-2.

Text is first cut into chunks by a regex (words with their leading space, runs of digits,
runs of punctuation, whitespace), as GPT-2 does, so that no merge crosses a word
boundary. Every chunk is encoded as UTF-8 bytes (ids 0..255), so any string can be
encoded and nothing is ever unknown. Training then repeats: find the most frequent
adjacent pair of ids, give it a new id, replace it everywhere.
"""
from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from ._common import as_id_list, read_json, write_json

# GPT-2's pre-split pattern, written for Python's `re` (which has no \p{L}/\p{N}):
#   [^\W\d_]  letters,  \d  digits,  (?:[^\s\w]|_)  neither letter, digit nor space.
# The last alternative `.` (with DOTALL) only exists so that no character can ever be
# dropped: the chunks always concatenate back to the text.
GPT2_LIKE_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+|."""

N_BYTES = 256


def _merge(tokens: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair`, left to right, by `new_id`."""
    out = []
    i, n = 0, len(tokens)
    first, second = pair
    while i < n:
        if i < n - 1 and tokens[i] == first and tokens[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


class BPETokenizer:
    """Byte-level BPE.

        tok = BPETokenizer(special_tokens=["<|endoftext|>"])
        tok.train(text, vocab_size=512)
        ids = tok.encode("hello world")
        assert tok.decode(ids) == "hello world"

    Ids 0..255 are the bytes, 256.. the merges in the order they were learned, and the
    special tokens come last. Special tokens written literally in the text are encoded as
    their own id.
    """

    def __init__(self, special_tokens: Sequence[str] = (), pattern: str | None = GPT2_LIKE_PATTERN):
        self.pattern = pattern
        self._split_re = re.compile(pattern, re.DOTALL) if pattern else None
        self.merges: dict[tuple[int, int], int] = {}  # (left id, right id) -> merged id; order = rank
        self.special_tokens: dict[str, int] = {}
        self._special_list = list(special_tokens)
        self._rebuild()

    # ------------------------------------------------------------------ vocabulary
    def _rebuild(self) -> None:
        """Recompute the byte strings of all ids and the special-token ids after merges change."""
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(N_BYTES)}
        for (left, right), new_id in self.merges.items():
            self.vocab[new_id] = self.vocab[left] + self.vocab[right]
        first_special = N_BYTES + len(self.merges)
        self.special_tokens = {s: first_special + i for i, s in enumerate(self._special_list)}
        self._special_by_id = {i: s for s, i in self.special_tokens.items()}
        if self.special_tokens:
            alternatives = sorted(self.special_tokens, key=len, reverse=True)  # longest first
            self._special_re = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
        else:
            self._special_re = None
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return N_BYTES + len(self.merges) + len(self.special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes that one id stands for (a special token's UTF-8 text)."""
        (token_id,) = as_id_list([token_id], "BPETokenizer.token_bytes", self.vocab_size)
        if token_id in self._special_by_id:
            return self._special_by_id[token_id].encode("utf-8")
        return self.vocab[token_id]

    # ------------------------------------------------------------------ training
    def _chunks(self, text: str) -> list[str]:
        return self._split_re.findall(text) if self._split_re is not None else [text]

    def train(self, text: str, vocab_size: int, verbose: bool = False) -> "BPETokenizer":
        """Learn `vocab_size - 256 - len(special_tokens)` merges from `text`.

        Pairs are counted over the table of distinct chunks weighted by their frequency,
        and after each merge only the chunks that contain the merged pair are updated, so
        a merge costs time in proportion to where the pair occurs, not to the whole text.
        Ties in pair frequency go to the smallest (left id, right id). Training stops
        early if no pair is left (the vocabulary is then smaller than asked).
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train: text must be a str, got {type(text).__name__}")
        n_merges = vocab_size - N_BYTES - len(self._special_list)
        if n_merges < 0:
            raise ValueError(
                f"BPETokenizer.train: vocab_size={vocab_size} is smaller than the 256 byte tokens plus "
                f"{len(self._special_list)} special tokens; use vocab_size >= {N_BYTES + len(self._special_list)}"
            )
        chunk_counts = Counter(self._chunks(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())

        pair_counts: dict[tuple[int, int], int] = defaultdict(int)
        where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of words that hold it
        for w, tokens in enumerate(words):
            for pair in zip(tokens, tokens[1:]):
                pair_counts[pair] += freqs[w]
                where[pair].add(w)
        # max-heap by count (lazy: stale entries are skipped when popped); ties -> smallest pair
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)

        merges: dict[tuple[int, int], int] = {}
        while len(merges) < n_merges and heap:
            neg_count, best = heapq.heappop(heap)
            if pair_counts.get(best, 0) != -neg_count or neg_count == 0:
                continue  # stale entry
            new_id = N_BYTES + len(merges)
            merges[best] = new_id
            changed = set()
            for w in where.pop(best):
                old = words[w]
                new = _merge(old, best, new_id)
                if len(new) == len(old):
                    continue  # the pair left this word in an earlier merge
                f = freqs[w]
                for pair in zip(old, old[1:]):
                    pair_counts[pair] -= f
                    changed.add(pair)
                for pair in zip(new, new[1:]):
                    pair_counts[pair] += f
                    where[pair].add(w)
                    changed.add(pair)
                words[w] = new
            pair_counts.pop(best, None)
            changed.discard(best)
            for pair in changed:
                count = pair_counts[pair]
                if count > 0:
                    heapq.heappush(heap, (-count, pair))
                else:
                    del pair_counts[pair]
            if verbose and len(merges) % 100 == 0:
                print(f"BPETokenizer.train: {len(merges)}/{n_merges} merges")
        self.merges = merges
        self._rebuild()
        return self

    # ------------------------------------------------------------------ encode / decode
    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        tokens = list(chunk.encode("utf-8"))
        ranks = self.merges
        while len(tokens) >= 2:
            # apply the earliest-learned merge first, exactly as training did
            best = min(zip(tokens, tokens[1:]), key=lambda p: ranks.get(p, 1 << 62))
            if best not in ranks:
                break
            tokens = _merge(tokens, best, ranks[best])
        if len(self._cache) < 200_000:
            self._cache[chunk] = tokens
        return tokens

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self._chunks(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: text must be a str, got {type(text).__name__}")
        if self._special_re is None:
            return self._encode_ordinary(text)
        ids: list[int] = []
        # re.split with a group keeps the separators: odd positions are special tokens
        for i, part in enumerate(self._special_re.split(text)):
            if i % 2:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self._encode_ordinary(part))
        return ids

    def decode(self, ids, errors: str = "replace") -> str:
        """Ids back to text. A cut inside a multi-byte character decodes to U+FFFD
        (errors='replace'); pass errors='strict' to raise instead."""
        parts = []
        for i in as_id_list(ids, "BPETokenizer.decode", self.vocab_size):
            special = self._special_by_id.get(i)
            parts.append(special.encode("utf-8") if special is not None else self.vocab[i])
        return b"".join(parts).decode("utf-8", errors=errors)

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        write_json(path, {
            "type": "bpe",
            "version": 1,
            "pattern": self.pattern,
            "merges": [list(pair) for pair in self.merges],  # in rank order; merge k gets id 256 + k
            "special_tokens": self._special_list,
        })

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        payload = read_json(path, "bpe", "BPETokenizer.load")
        tok = cls(special_tokens=payload.get("special_tokens", []), pattern=payload.get("pattern"))
        merges = {}
        for k, pair in enumerate(payload["merges"]):
            new_id = N_BYTES + k
            left, right = pair
            if not (0 <= left < new_id and 0 <= right < new_id):
                raise ValueError(f"BPETokenizer.load: merge {k} of {str(path)!r} refers to an id not yet defined: {pair}")
            merges[(left, right)] = new_id
        tok.merges = merges
        tok._rebuild()
        return tok

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={self._special_list})")
