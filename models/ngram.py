"""n-gram language models by counting: maximum likelihood, add-k, interpolated Kneser-Ney.

An n-gram model makes the Markov assumption: the next token depends only on the n-1 tokens
before it,  P(w_i | w_1 .. w_{i-1}) ~= P(w_i | w_{i-n+1} .. w_{i-1}).

Maximum likelihood (the lecture's counts):
    unigram   P(w)               = C(w) / C(tokens)
    bigram    P(w_n | w_{n-1})   = C(w_{n-1} w_n) / C(w_{n-1})
    n-gram    P(w | h)           = C(h w) / C(h)           C(h) = sum_w C(h w)
Add-k (Laplace for k = 1), V = vocabulary size:
    P(w | h) = (C(h w) + k) / (C(h) + k V)
Interpolated modified Kneser-Ney (Chen & Goodman 1998), the default:
    P_m(w | h) = max(a(h w) - D(a), 0) / sum_w a(h w)  +  gamma(h) P_{m-1}(w | h')
    gamma(h)   = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / sum_w a(h w)
    P_0(w)     = 1 / V
where h' drops the oldest token of h, N_r(h .) counts the words seen exactly r times after h,
and the count a is the raw count C at the highest order but the continuation count
N1+(. h w) (how many distinct tokens precede h w) at the lower orders: a lower-order estimate is
only consulted when the longer context was rare, so it should measure how many contexts a word
completes, not how often it occurs. An occurrence that cannot be extended to the left (it starts
with padding, or sits at the first token of an unpadded stream) keeps its raw count, KenLM's rule
for n-grams that begin with <s>. The discounts of each order come from its count-of-counts n_r:
    Y = n1 / (n1 + 2 n2),  D1 = 1 - 2Y n2/n1,  D2 = 2 - 3Y n3/n2,  D3+ = 3 - 4Y n4/n3
and fall back to KenLM's (0.5, 1, 1.5) when those are undefined or out of range (tiny corpora,
small vocabularies). `modified=False` gives plain interpolated KN: one discount D = Y.

Boundaries. `NGramLM(n, boundary=".")` models a list of sequences (names, sentences): each one is
padded with n-1 boundary tokens on the left and one on the right, so the first letter of a name
is predicted from '....' and the final '.' is predicted too, exactly makemore's
`context = [0] * block_size` convention (for n = 2 these are makemore's bigrams). Without a
boundary the model reads one continuous stream (tiny Shakespeare): every token is scored, and
the first n-2 tokens, which have less than n-1 tokens of history, are scored by the longest
order their history allows.

Unseen events. With smoothing="mle", an n-gram never seen after a seen context has probability
0, so its log-probability is -inf and cross_entropy/perplexity return inf (by design; it is what
MLE says). A context never seen at all gets the uniform distribution 1/V, the k -> 0 limit of
add-k, so every context's distribution still sums to 1. A token outside the vocabulary is an
error for every smoothing: pass it in `fit(..., vocab=...)` to give it (smoothed) probability.

Speed. Tokens become int ids 0..V-1 (sorted vocabulary, so '.' is 0 and 'a'..'z' are 1..26 as
in makemore), an m-gram becomes one int64 code sum_j w_{i-j} V^j (mixed radix, the newest token
least significant, so the context is code // V, the word code % V and the (m-1)-gram suffix code
% V^(m-1)), and counting is np.unique over those codes; lookups are np.searchsorted. No Python
loop runs per token.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

SMOOTHINGS = ("mle", "add_k", "kneser_ney")
_ALIASES = {"kn": "kneser_ney", "laplace": "add_k", "add_one": "add_k"}
KN_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback defaults
_MAX_CODE = 2**62  # m-gram codes stay below this so that code * V + w never overflows int64

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize_words(text: str) -> list[str]:
    """Lower-case words and single punctuation marks: "I'm waiting." -> ["i'm", "waiting", "."]."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize_words: expected a str, got {type(text).__name__}")
    return _WORD_RE.findall(text.lower())


# ----------------------------------------------------------------------------- vocabulary
def _kind_of(seq) -> str:
    """'char' for a str, 'int' for integers, 'word' for a list of str."""
    if isinstance(seq, str):
        return "char"
    if isinstance(seq, np.ndarray):
        if seq.dtype.kind in "iu":
            return "int"
        if seq.dtype.kind == "U":
            return "word"
        raise TypeError(f"NGramLM: token arrays must hold integers or str, got dtype {seq.dtype}")
    seq = list(seq)
    if all(isinstance(t, str) for t in seq):
        return "word"
    if all(isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)) for t in seq):
        return "int"
    kinds = sorted({type(t).__name__ for t in seq})
    raise TypeError(f"NGramLM: a sequence must hold only str tokens or only int tokens, got {kinds}")


def _keys(seq, kind: str) -> np.ndarray:
    """Sortable numpy keys of a token sequence: code points, ints or str."""
    if kind == "char":
        if not isinstance(seq, str):
            raise TypeError(f"NGramLM: this is a character model; pass str, got {type(seq).__name__}")
        return np.frombuffer(seq.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    if isinstance(seq, str):
        raise TypeError(
            f"NGramLM: this is a {kind}-level model; pass a list of tokens, not one str "
            "(tokenize_words(text) splits a sentence into words)"
        )
    if kind == "word":
        seq = list(seq)
        if not all(isinstance(t, str) for t in seq):
            raise TypeError("NGramLM: this is a word-level model; every token must be a str")
        return np.asarray(seq, dtype=np.str_) if seq else np.zeros(0, dtype="<U1")
    arr = np.asarray(seq)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise TypeError(f"NGramLM: this model's tokens are integers; got dtype {arr.dtype}")
    return arr.astype(np.int64).ravel()


def _key_to_token(key, kind: str):
    if kind == "char":
        return chr(int(key))
    if kind == "int":
        return int(key)
    return str(key)


# ----------------------------------------------------------------------------- encoded data
@dataclass
class _Stream:
    ids: np.ndarray  # int64 token ids, padding included
    targets: np.ndarray  # positions whose token is predicted (scored, counted)
    history: np.ndarray  # per target: tokens before it in its own sequence, padding included
    real_history: np.ndarray  # per target: real (non-padding) tokens before it


@dataclass
class _OrderTable:
    """Everything order m knows: its m-grams sorted by code and their contexts."""

    grams: np.ndarray  # sorted unique m-gram codes
    count: np.ndarray  # raw count C(h w) of each
    contexts: np.ndarray  # sorted unique context codes (code // V)
    context_count: np.ndarray  # C(h) = sum_w C(h w)
    adjusted: np.ndarray | None = None  # KN: a(h w), raw at the top order, continuation below
    discount: np.ndarray | None = None  # KN: D(a) of each m-gram (D1, D2 or D3+)
    context_total: np.ndarray | None = None  # KN: sum_w a(h w)
    context_gamma: np.ndarray | None = None  # KN: sum_w D(a(h w)), the mass handed to order m-1


def _lookup(table: np.ndarray, keys: np.ndarray):
    """Index of each key in a sorted table, and whether it is there."""
    if table.size == 0:
        return np.zeros(keys.shape, dtype=np.int64), np.zeros(keys.shape, dtype=bool)
    idx = np.minimum(np.searchsorted(table, keys), table.size - 1)
    return idx, table[idx] == keys


def _count_of_counts(adjusted: np.ndarray) -> list[int]:
    return [int(np.count_nonzero(adjusted == r)) for r in (1, 2, 3, 4)]


def estimate_discounts(adjusted: np.ndarray, modified: bool = True):
    """(D1, D2, D3+) from count-of-counts, and whether the estimate was usable.

    Chen & Goodman's estimates; plain KN uses D = Y = n1 / (n1 + 2 n2) for every count.
    """
    n1, n2, n3, n4 = _count_of_counts(adjusted)
    if n1 == 0 or n2 == 0:
        return KN_FALLBACK_DISCOUNTS, False
    y = n1 / (n1 + 2 * n2)
    if not modified:
        return (y, y, y), 0.0 < y < 1.0
    if n3 == 0:
        return KN_FALLBACK_DISCOUNTS, False
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0.0 < dr <= r for r, dr in zip((1, 2, 3), d)):
        return KN_FALLBACK_DISCOUNTS, False
    return d, True


# ----------------------------------------------------------------------------- the model
class NGramLM:
    """An n-gram language model over characters, words or integer ids.

    >>> lm = NGramLM(3, "kneser_ney", boundary=".").fit(["emma", "olivia", "ava"])
    >>> lm.prob("a", "emm")          # P(a | "mm"), the context is the name so far
    >>> lm.sample(5, seed=0)         # five names
    >>> lm.cross_entropy(["anna"])   # nats per token, the final "." included
    """

    def __init__(
        self,
        n: int,
        smoothing: str = "kneser_ney",
        *,
        k: float = 1.0,
        boundary=None,
        discounts=None,
        modified: bool = True,
    ):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"NGramLM: n must be an integer >= 1 (1 = unigram, 2 = bigram), got {n!r}")
        smoothing = _ALIASES.get(smoothing, smoothing)
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"NGramLM: unknown smoothing {smoothing!r}; choose one of {SMOOTHINGS}")
        if smoothing == "add_k" and not (k > 0 and math.isfinite(k)):
            raise ValueError(f"NGramLM: add-k needs a finite k > 0, got k={k!r} (smoothing='mle' is k = 0)")
        self.n = int(n)
        self.smoothing = smoothing
        self.k = float(k) if smoothing == "add_k" else 0.0
        self.boundary = boundary
        self.modified = modified
        self._given_discounts = self._check_discounts(discounts)
        self.vocab: list | None = None
        self.discounts: dict[int, tuple[float, float, float]] = {}
        self.discount_source: dict[int, str] = {}

    @staticmethod
    def _check_discounts(discounts):
        if discounts is None:
            return None
        d = (float(discounts),) * 3 if np.isscalar(discounts) else tuple(float(x) for x in discounts)
        if len(d) != 3 or not all(0.0 <= dr <= r for r, dr in zip((1, 2, 3), d)):
            raise ValueError(
                f"NGramLM: discounts must be one number in [0, 1] or (D1, D2, D3+) with "
                f"0 <= D_r <= r, got {discounts!r}"
            )
        return d

    # --------------------------------------------------------------------- encoding
    @property
    def vocab_size(self) -> int:
        self._check_fitted("vocab_size")
        return len(self.vocab)

    def _check_fitted(self, what: str):
        if self.vocab is None:
            raise RuntimeError(f"NGramLM.{what}: the model has not been fitted; call fit(data) first")

    def _sequences(self, data, what: str) -> list:
        if self.boundary is None:
            return [data]
        if isinstance(data, str):
            raise TypeError(
                f"NGramLM.{what}: a model with a boundary token reads a list of sequences "
                "(e.g. a list of names); got one str. Wrap it in a list, or use boundary=None "
                "for one continuous stream"
            )
        return list(data)

    def _infer_kind(self, seqs) -> str:
        kind = _kind_of(seqs[0])
        if self.boundary is None:
            return kind
        if all(isinstance(s, str) for s in seqs):
            kind = "char"
        if kind == "char" and not (isinstance(self.boundary, str) and len(self.boundary) == 1):
            raise TypeError(
                f"NGramLM.fit: sequences of characters need a one-character boundary such as '.', "
                f"got {self.boundary!r}"
            )
        if kind == "word" and not isinstance(self.boundary, str):
            raise TypeError(f"NGramLM.fit: word sequences need a str boundary such as '<s>', got {self.boundary!r}")
        if kind == "int" and _kind_of([self.boundary]) != "int":
            raise TypeError(f"NGramLM.fit: integer sequences need an int boundary such as 0, got {self.boundary!r}")
        return kind

    def _flat_keys(self, seqs, what: str):
        """Concatenate the sequences with their padding; return keys and per-sequence lengths."""
        pad = self.n - 1 if self.boundary is not None else 0
        end = 1 if self.boundary is not None else 0
        if self.kind == "char":
            if not all(isinstance(s, str) for s in seqs):
                raise TypeError(f"NGramLM.{what}: this is a character model; every sequence must be a str")
            b = self.boundary or ""
            flat = "".join(b * pad + s + b * end for s in seqs)
            keys = _keys(flat, "char")
            lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        else:
            parts, lengths = [], []
            b = _keys([self.boundary], self.kind) if self.boundary is not None else None
            for s in seqs:
                k = _keys(s, self.kind)
                parts += [b.repeat(pad), k, b.repeat(end)] if b is not None else [k]
                lengths.append(k.size)
            keys = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            lengths = np.asarray(lengths, dtype=np.int64)
        return keys, lengths + pad + end, pad

    def _encode(self, data, what: str) -> _Stream:
        seqs = self._sequences(data, what)
        keys, lengths, pad = self._flat_keys(seqs, what)
        ids = np.searchsorted(self._keys, keys)
        ids_clip = np.minimum(ids, len(self._keys) - 1)
        unknown = self._keys[ids_clip] != keys
        if unknown.any():
            bad = sorted({_key_to_token(x, self.kind) for x in keys[unknown][:1000]}, key=str)[:10]
            raise ValueError(
                f"NGramLM.{what}: {int(unknown.sum())} token(s) outside the vocabulary of "
                f"{len(self.vocab)}, e.g. {bad}; add them with fit(data, vocab=...) "
                "so that smoothing can give them probability"
            )
        starts = np.cumsum(lengths) - lengths
        position = np.arange(keys.size, dtype=np.int64)
        seq_start = np.repeat(starts, lengths)
        history = position - seq_start
        targets = position[history >= pad]
        history = history[history >= pad]
        return _Stream(ids_clip.astype(np.int64), targets, history, history - pad)

    def _gram_codes(self, stream: _Stream, max_order: int) -> list[np.ndarray]:
        """[None, G_1, ..., G_max]: G_m = code of the m tokens ending at each target.

        Rows whose history is shorter than m - 1 get a meaningless code; callers mask them.
        """
        V = len(self.vocab)
        codes = [None, stream.ids[stream.targets]]
        for m in range(2, max_order + 1):
            back = np.maximum(stream.targets - (m - 1), 0)
            codes.append(codes[-1] + stream.ids[back] * V ** (m - 1))
        return codes

    # --------------------------------------------------------------------- fitting
    def fit(self, data, vocab=None) -> "NGramLM":
        """Count every m-gram (m = 1..n) of `data`.

        data: one stream (str, list of tokens, int array) without a boundary; a list of
        sequences with one. vocab: extra tokens to include (every token of `data` always is).
        """
        seqs = self._sequences(data, "fit")
        if not seqs or all(len(s) == 0 for s in seqs):
            raise ValueError("NGramLM.fit: no training tokens; pass a non-empty corpus")
        self.kind = self._infer_kind(seqs)
        parts = [_keys(s, self.kind) for s in seqs] if self.kind != "char" else [_keys("".join(seqs), "char")]
        if vocab is not None:
            extra = "".join(vocab) if self.kind == "char" and not isinstance(vocab, str) else vocab
            parts.append(_keys(extra, self.kind))
        if self.boundary is not None:
            parts.append(_keys(self.boundary if self.kind == "char" else [self.boundary], self.kind))
        self._keys = np.unique(np.concatenate(parts))
        self.vocab = [_key_to_token(x, self.kind) for x in self._keys]
        V = len(self.vocab)
        if V ** self.n >= _MAX_CODE:
            self.vocab = None
            raise ValueError(
                f"NGramLM.fit: {V} tokens and n={self.n} give n-gram codes up to V**n = {V}**{self.n}, "
                "beyond int64; use a smaller n or map rare tokens to one <unk> token"
            )
        self._boundary_id = None
        if self.boundary is not None:
            bkey = _keys(self.boundary if self.kind == "char" else [self.boundary], self.kind)
            self._boundary_id = int(np.searchsorted(self._keys, bkey[0]))

        stream = self._encode(data, "fit")
        codes = self._gram_codes(stream, self.n)
        self._tables = [None]
        for m in range(1, self.n + 1):
            grams, count = np.unique(codes[m][stream.history >= m - 1], return_counts=True)
            table = self._make_table(grams, count)
            if self.smoothing == "kneser_ney":
                adjusted = count if m == self.n else self._continuation_counts(stream, codes, m, grams)
                self._add_kneser_ney(table, m, adjusted)
            self._tables.append(table)
        self.num_tokens = int(stream.targets.size)
        return self

    def _make_table(self, grams: np.ndarray, count: np.ndarray) -> _OrderTable:
        V = len(self.vocab)
        # grams are sorted, so grams // V (their contexts) come in contiguous runs
        contexts, first = np.unique(grams // V, return_index=True)
        context_count = np.add.reduceat(count, first) if grams.size else count
        return _OrderTable(grams, count.astype(np.int64), contexts, context_count.astype(np.int64))

    def _continuation_counts(self, stream: _Stream, codes, m: int, grams: np.ndarray) -> np.ndarray:
        """a(w_1..w_m) = N1+(. w_1..w_m), plus the occurrences with nothing real to their left."""
        V = len(self.vocab)
        usable = stream.history >= m - 1
        extendable = (stream.history >= m) & (stream.real_history >= m - 1)
        longer = np.unique(codes[m + 1][extendable])  # distinct (left token, m-gram) pairs
        suffix, distinct_left = np.unique(longer % V**m, return_counts=True)
        alone, alone_count = np.unique(codes[m][usable & ~extendable], return_counts=True)
        adjusted = np.zeros(grams.size, dtype=np.int64)
        np.add.at(adjusted, np.searchsorted(grams, suffix), distinct_left)
        np.add.at(adjusted, np.searchsorted(grams, alone), alone_count)
        return adjusted

    def _add_kneser_ney(self, table: _OrderTable, m: int, adjusted: np.ndarray):
        if self._given_discounts is not None:
            d, source = self._given_discounts, "given"
        else:
            d, ok = estimate_discounts(adjusted, self.modified)
            source = "estimated" if ok else "fallback"
            if not ok and not self.modified:
                d = (0.75,) * 3  # Ney's customary single discount when Y is undefined
        self.discounts[m], self.discount_source[m] = tuple(float(x) for x in d), source
        # D_r <= r (checked or estimated so), so no count is discounted below zero
        per_gram = np.asarray(d)[np.minimum(adjusted, 3) - 1] if adjusted.size else np.zeros(0)
        first = np.searchsorted(table.grams, table.contexts * len(self.vocab))
        table.adjusted = adjusted.astype(np.float64)
        table.discount = per_gram
        table.context_total = np.add.reduceat(table.adjusted, first) if adjusted.size else table.adjusted
        table.context_gamma = np.add.reduceat(per_gram, first) if adjusted.size else per_gram

    # --------------------------------------------------------------------- probabilities
    def _probabilities(self, contexts: list, history: np.ndarray, words: np.ndarray) -> np.ndarray:
        """P(words | context) for B rows: contexts[m] holds the (B,) order-m context codes,
        history (B,) how many tokens of context each row really has, words (B, K) or (1, K)."""
        V = len(self.vocab)
        shape = np.broadcast_shapes((history.size, 1), words.shape)
        if self.smoothing == "kneser_ney":
            p = np.full(shape, 1.0 / V)  # P_0: uniform
            for m in range(1, self.n + 1):
                t = self._tables[m]
                if t.grams.size == 0:
                    continue
                ci, seen_context = _lookup(t.contexts, contexts[m])
                seen_context &= history >= m - 1
                gi, seen_gram = _lookup(t.grams, contexts[m][:, None] * V + words)
                total = t.context_total[ci][:, None]
                kept = np.where(seen_gram, t.adjusted[gi] - t.discount[gi], 0.0)
                interpolated = kept / total + (t.context_gamma[ci][:, None] / total) * p
                p = np.where(seen_context[:, None], interpolated, p)
            return p
        # MLE / add-k: each row uses the longest order its history allows
        order = np.minimum(history + 1, self.n)
        p = np.empty(shape)
        for m in np.unique(order):
            rows = order == m
            t = self._tables[m]
            h = contexts[m][rows]
            c_hw = np.zeros((h.size, shape[1]), dtype=np.int64)
            c_h = np.zeros((h.size, 1), dtype=np.int64)
            if t.grams.size:  # an order can be empty: a training stream shorter than m tokens
                ci, seen_context = _lookup(t.contexts, h)
                gi, seen_gram = _lookup(t.grams, h[:, None] * V + (words[rows] if words.shape[0] > 1 else words))
                c_hw = np.where(seen_gram, t.count[gi], 0)
                c_h = np.where(seen_context, t.context_count[ci], 0)[:, None]
            denom = c_h + self.k * V
            with np.errstate(invalid="ignore", divide="ignore"):
                p[rows] = np.where(denom > 0, (c_hw + self.k) / np.where(denom > 0, denom, 1), 1.0 / V)
        return p

    def _context_codes(self, ctx: np.ndarray) -> list:
        """Order-m context codes of (B, n-1) right-aligned context ids."""
        V = len(self.vocab)
        codes = [None, np.zeros(ctx.shape[0], dtype=np.int64)]
        for m in range(2, self.n + 1):
            codes.append(codes[-1] + ctx[:, -(m - 1)] * V ** (m - 2))
        return codes

    def _context_row(self, context, what: str):
        """The last n-1 ids of a context (padded with boundaries in a boundary model)."""
        if self.kind == "char":
            context = "".join(context) if not isinstance(context, str) else context
        elif isinstance(context, str):
            context = tokenize_words(context) if self.kind == "word" else context
        keys = _keys(context, self.kind)
        ids = np.searchsorted(self._keys, keys)
        ids = np.minimum(ids, len(self._keys) - 1)
        if keys.size and (self._keys[ids] != keys).any():
            bad = [_key_to_token(x, self.kind) for x in keys[self._keys[ids] != keys]]
            raise ValueError(f"NGramLM.{what}: context token(s) {bad[:10]} are not in the vocabulary")
        if self.boundary is not None:
            ids = np.concatenate([np.full(self.n - 1, self._boundary_id), ids])
        ids = ids[max(ids.size - (self.n - 1), 0):] if self.n > 1 else ids[:0]
        row = np.zeros((1, self.n - 1), dtype=np.int64)
        if ids.size:
            row[0, row.shape[1] - ids.size:] = ids
        return row, np.array([ids.size])

    def _token_id(self, token, what: str) -> int:
        key = _keys(token if self.kind == "char" else [token], self.kind)
        if key.size != 1:
            raise ValueError(f"NGramLM.{what}: expected one token, got {token!r}")
        i = int(np.searchsorted(self._keys, key[0]))
        if i >= len(self._keys) or self._keys[i] != key[0]:
            raise ValueError(f"NGramLM.{what}: token {token!r} is not in the vocabulary")
        return i

    def probs(self, context=()) -> np.ndarray:
        """P(. | context) over `self.vocab`: the context is the sequence so far (a boundary model
        pads it as at the start of a sequence); only its last n-1 tokens matter."""
        self._check_fitted("probs")
        row, history = self._context_row(context, "probs")
        return self._probabilities(self._context_codes(row), history, np.arange(len(self.vocab))[None, :])[0]

    def prob(self, token, context=()) -> float:
        """P(token | context)."""
        self._check_fitted("prob")
        return float(self.probs(context)[self._token_id(token, "prob")])

    def counts(self, context=()) -> np.ndarray:
        """Raw counts C(h w) over `self.vocab` for the context's last n-1 tokens (C(w) when n = 1)."""
        self._check_fitted("counts")
        row, history = self._context_row(context, "counts")
        m = int(min(history[0] + 1, self.n))
        t = self._tables[m]
        gi, seen = _lookup(t.grams, self._context_codes(row)[m][0] * len(self.vocab) + np.arange(len(self.vocab)))
        return np.where(seen, t.count[gi], 0) if t.grams.size else np.zeros(len(self.vocab), dtype=np.int64)

    def count(self, ngram) -> int:
        """C(w_1 .. w_m) for m <= n: how often these m tokens end a counted position."""
        self._check_fitted("count")
        if self.kind == "char":
            ngram = "".join(ngram) if not isinstance(ngram, str) else ngram
        ids = np.array([self._token_id(t, "count") for t in ngram], dtype=np.int64)
        if not 1 <= ids.size <= self.n:
            raise ValueError(f"NGramLM.count: an n-gram of 1..{self.n} tokens, got {len(ids)}")
        code = int(np.sum(ids[::-1] * len(self.vocab) ** np.arange(ids.size, dtype=np.int64)))
        t = self._tables[ids.size]
        i, seen = _lookup(t.grams, np.array([code]))
        return int(t.count[i[0]]) if seen[0] else 0

    # --------------------------------------------------------------------- evaluation
    def log_probs(self, data) -> np.ndarray:
        """ln P(w_i | history) of every scored token of `data` (-inf where MLE gives 0)."""
        self._check_fitted("log_probs")
        stream = self._encode(data, "log_probs")
        codes = self._gram_codes(stream, self.n)
        contexts = [None] + [c // len(self.vocab) for c in codes[1:]]
        words = stream.ids[stream.targets][:, None]
        p = self._probabilities(contexts, stream.history, words)[:, 0]
        with np.errstate(divide="ignore"):
            return np.log(p)

    def cross_entropy(self, data) -> float:
        """Mean negative log-likelihood in nats per token (inf if MLE meets an unseen n-gram)."""
        lp = self.log_probs(data)
        if lp.size == 0:
            raise ValueError("NGramLM.cross_entropy: no tokens to score")
        return float(-lp.mean())

    def perplexity(self, data) -> float:
        """exp(cross-entropy): the size of a uniform choice that is as surprised."""
        return math.exp(self.cross_entropy(data))

    def sentence_probability(self, sentence, end: bool = False) -> float:
        """P(w_1 .. w_T) = prod_i P(w_i | w_{i-n+1} .. w_{i-1}).

        A str is tokenized with `tokenize_words` for a word model. A boundary model starts the
        sentence after n-1 boundary tokens; end=True also multiplies in P(boundary | last words),
        the probability that the sentence stops there.
        """
        self._check_fitted("sentence_probability")
        if self.kind == "word" and isinstance(sentence, str):
            sentence = tokenize_words(sentence)
        data = [sentence] if self.boundary is not None else sentence
        lp = self.log_probs(data)
        if self.boundary is not None and not end:
            lp = lp[:-1]
        return float(np.exp(lp.sum()))

    # --------------------------------------------------------------------- sampling
    def sample(self, num_samples: int = 1, *, seed=None, generator=None, max_length: int = 200, prompt=None):
        """Draw sequences token by token from P(. | last n-1 tokens).

        A boundary model starts each sample after n-1 boundaries and stops at the next boundary
        (not returned) or at max_length tokens; a stream model continues `prompt` (or starts from
        nothing) for exactly max_length tokens. The same seed gives the same samples.
        Returns str for a character model, lists of tokens otherwise.
        """
        self._check_fitted("sample")
        if num_samples < 1 or max_length < 1:
            raise ValueError(f"NGramLM.sample: num_samples and max_length must be >= 1, got {num_samples}, {max_length}")
        rng = generator if generator is not None else np.random.default_rng(seed)
        row, history = self._context_row(prompt if prompt is not None else ("" if self.kind == "char" else []), "sample")
        ctx = np.repeat(row, num_samples, axis=0)
        history = np.repeat(history, num_samples)
        out = np.zeros((num_samples, max_length), dtype=np.int64)
        length = np.full(num_samples, max_length)
        alive = np.ones(num_samples, dtype=bool)
        all_words = np.arange(len(self.vocab))[None, :]
        for step in range(max_length):
            p = self._probabilities(self._context_codes(ctx), history, all_words)
            cdf = np.cumsum(p, axis=1)
            u = rng.random(num_samples) * cdf[:, -1]
            nxt = np.minimum((cdf < u[:, None]).sum(axis=1), len(self.vocab) - 1)
            out[:, step] = nxt
            if self.boundary is not None:
                stop = alive & (nxt == self._boundary_id)
                length[stop] = step
                alive &= ~stop
                if not alive.any():
                    break
            if self.n > 1:
                ctx = np.concatenate([ctx[:, 1:], nxt[:, None]], axis=1)
                history = np.minimum(history + 1, self.n - 1)
        samples = [[self.vocab[i] for i in out[b, : length[b]]] for b in range(num_samples)]
        return ["".join(s) for s in samples] if self.kind == "char" else samples

    def __repr__(self):
        extra = f", k={self.k}" if self.smoothing == "add_k" else ""
        fitted = f", vocab_size={len(self.vocab)}" if self.vocab is not None else ", unfitted"
        return f"NGramLM(n={self.n}, smoothing={self.smoothing!r}{extra}, boundary={self.boundary!r}{fitted})"
