"""Text generation for every model that decodes: the next token from logits, and beam search.

Everything here works on raw arrays of either device (numpy, or cupy on a GPU: each function asks
its arrays for their module) and builds no graph. A model supplies one function:

    logits = next_logits(tokens)             sampling: tokens (B, T) so far -> logits (B, V) of the next
    log_probs, state = step(tokens, state)   beam search: the B*K beams' new tokens (B*K, t) -> (B*K, V)

The pieces follow Hugging Face's logits processors, in their order: the repetition penalty,
then temperature, top-k and top-p (nucleus); temperature 0 is greedy.

    for column in sample_stream(next_logits, ids, 50, top_p=0.9, eos_token_id=0):
        ...                                   # each new token column (B,), as it is drawn
    sequences, scores = beam_search(step, state, batch_size=B, num_beams=4, max_new_tokens=20,
                                    eos_token_id=0, length_penalty=1.0)

Where the host must decide (may the loop stop?), it reads one flag a step: `sample_stream` when
it has an eos_token_id (have all rows finished?), `beam_search` always (is any beam still
searching?). Nothing else crosses to the host inside a loop.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from .backend import xp_of
from .random import get_rng

_NEG_INF = float("-inf")


# -- logits processors (Hugging Face's, on arrays) ---------------------------------------------------------
def apply_repetition_penalty(logits, generated, penalty: float):
    """CTRL's penalty (Keskar et al. 2019) as transformers' RepetitionPenaltyLogitsProcessor: the
    logit of every id already in `generated` (B, T) is divided by `penalty` where positive and
    multiplied by it where negative, so a penalty > 1 makes repeats less likely either way."""
    if penalty <= 0:
        raise ValueError(f"repetition_penalty must be > 0 (1 = no penalty), got {penalty}")
    if generated.shape[1] == 0 or penalty == 1.0:
        return logits
    xp = xp_of(logits)
    seen = xp.take_along_axis(logits, generated, axis=1)
    out = logits.copy()
    xp.put_along_axis(out, generated, xp.where(seen < 0, seen * penalty, seen / penalty), axis=1)
    return out


def apply_top_k(logits, top_k: int):
    """Keep the top_k largest logits of each row (ties with the k-th kept too); the rest -> -inf."""
    if top_k is None or top_k >= logits.shape[-1]:
        return logits
    if int(top_k) < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    xp = xp_of(logits)
    k = logits.shape[-1] - int(top_k)  # the top_k-th largest value sits at sorted position V - top_k
    kth = xp.partition(logits, k, axis=-1)[..., k:k + 1]
    return xp.where(logits < kth, _NEG_INF, logits)


def apply_top_p(logits, top_p: float):
    """Nucleus sampling (Holtzman et al. 2019): keep the most likely tokens of each row until their
    probability reaches top_p (at least one); the rest -> -inf. A token is dropped when the mass of
    the tokens more likely than it is already >= top_p."""
    if top_p is None or top_p >= 1.0:
        return logits
    if not top_p > 0.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
    xp = xp_of(logits)
    probs = softmax(logits)
    order = xp.argsort(-probs, axis=-1)
    sorted_p = xp.take_along_axis(probs, order, axis=-1)
    drop_sorted = xp.cumsum(sorted_p, axis=-1) - sorted_p >= top_p
    drop = xp.zeros_like(drop_sorted)
    xp.put_along_axis(drop, order, drop_sorted, axis=-1)
    return xp.where(drop, _NEG_INF, logits)


def force_token(logits, token_id: int):
    """Every row must pick token_id (transformers' ForcedBOS/EOSTokenLogitsProcessor): -inf elsewhere."""
    forced = xp_of(logits).full(logits.shape, _NEG_INF, dtype=logits.dtype)
    forced[..., token_id] = 0.0
    return forced


def softmax(logits):
    xp = xp_of(logits)
    e = xp.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits):
    xp = xp_of(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def check_sampling_args(who: str, temperature=1.0, top_k=None, top_p=None, repetition_penalty=None) -> None:
    """Bad settings fail before any work, naming the caller."""
    if temperature < 0:
        raise ValueError(f"{who}: temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and int(top_k) < 1:
        raise ValueError(f"{who}: top_k must be a positive integer or None, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"{who}: top_p must be in (0, 1] or None, got {top_p}")
    if repetition_penalty is not None and not repetition_penalty > 0:
        raise ValueError(f"{who}: repetition_penalty must be > 0 (1 = none), got {repetition_penalty}")


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, rng=None, repetition_penalty=None,
                generated=None):
    """One token id per row of logits (B, V), on the logits' device: the repetition penalty (over
    the ids in `generated`, (B, T)), then logits / temperature, top-k, top-p, and a draw from the
    softmax with `rng` (the generator of the logits' array module: minigrad.random.get_rng).
    temperature 0 picks the most likely token (after the penalty)."""
    xp = xp_of(logits)
    logits = xp.asarray(logits, dtype=np.float64)
    if repetition_penalty is not None and generated is not None:
        logits = apply_repetition_penalty(logits, generated, repetition_penalty)
    if temperature == 0:
        return logits.argmax(axis=-1)
    probs = softmax(apply_top_p(apply_top_k(logits / temperature, top_k), top_p))
    rng = rng if rng is not None else get_rng(None, xp)
    u = rng.random((probs.shape[0], 1))  # inverse CDF: the first token whose cumulative mass passes u
    return xp.minimum((xp.cumsum(probs, axis=-1) < u).sum(axis=-1), probs.shape[-1] - 1)


# -- sampling, token by token -----------------------------------------------------------------------------
def sample_stream(next_logits: Callable, ids, max_new_tokens: int, *, temperature=1.0, top_k=None, top_p=None,
                  repetition_penalty=None, eos_token_id=None, pad_token_id=None, rng=None) -> Iterator:
    """Yield each new token column (B,) as it is drawn, extending `ids` (B, T0): the streaming form of
    generation. next_logits(tokens (B, T)) gives the next token's logits (B, V).

    With eos_token_id, a row that has produced it is finished: it gets pad_token_id (default: the
    eos id, as transformers) from then on, and the stream ends once every row has finished (the
    one flag a step the host reads). The repetition penalty counts the prompt's ids too (as
    transformers for a decoder-only model)."""
    xp = xp_of(ids)
    out = ids
    done = xp.zeros(ids.shape[0], dtype=bool) if eos_token_id is not None else None
    pad = eos_token_id if pad_token_id is None else pad_token_id
    for _ in range(max_new_tokens):
        logits = next_logits(out)
        nxt = sample_next(logits, temperature, top_k, top_p, rng, repetition_penalty, out).astype(out.dtype)
        if done is not None:
            nxt = xp.where(done, pad, nxt)
            done = done | (nxt == eos_token_id)
        out = xp.concatenate([out, nxt[:, None]], axis=1)
        yield nxt
        if done is not None and bool(done.all()):  # the Python decision: one flag to the host
            return


def call_streamer(streamer, tokens) -> None:
    """Hand new tokens to a streamer: an object with put()/end() (transformers' protocol) or a callable."""
    (streamer.put if hasattr(streamer, "put") else streamer)(tokens)


# -- beam search --------------------------------------------------------------------------------------------
def reorder_rows(state, rows):
    """A decoder's state with its batch rows picked by `rows` (beam search's survivors): arrays and
    Tensors along dim 0, objects with `reorder` (a KVCache) in place, tuples/lists/dicts inside."""
    if state is None:
        return None
    if hasattr(state, "reorder"):
        return state.reorder(rows)
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_rows(s, rows) for s in state)
    if isinstance(state, dict):
        return {k: reorder_rows(v, rows) for k, v in state.items()}
    return state[rows]


class BeamSearch:
    """Beam search's bookkeeping for a batch, on the device of the log-probabilities (Hugging Face's
    BeamSearchScorer with early_stopping=True): the num_beams best partial sequences of each row by
    total log-probability; one that ends with eos is set aside as a finished hypothesis scored
    log P / length**length_penalty (length counts the eos); a row with num_beams finished stops.
    Row b * K + k is beam k of batch row b.

    Each step keeps the best 2K candidates (enough to keep K alive after eos ones): in order, an eos
    one among the first K is set aside as finished, a live one takes the next free beam, until K
    are alive. At the end the live beams compete with the finished ones by the same score. All of it
    is array arithmetic on the device; the host reads one flag a step (alive) and nothing else."""

    def __init__(self, batch, num_beams, max_len, eos_token_id, length_penalty, pad_token_id, xp):
        B, K = batch, num_beams
        self.K, self.lp, self.eos, self.pad, self.xp, self.step = K, length_penalty, eos_token_id, pad_token_id, xp, 0
        self.scores = xp.full((B, K), _NEG_INF)
        self.scores[:, 0] = 0.0  # the beams start identical: keep one so that step 1 is not K copies
        self.tokens = xp.zeros((B, K, 0), dtype=np.int64)
        self.best_score = xp.full(B, _NEG_INF)  # the best finished hypothesis of each row, normalised
        self.best_tokens = xp.full((B, max_len), pad_token_id, dtype=np.int64)
        self.n_finished = xp.zeros(B, dtype=np.int64)

    def alive(self) -> bool:
        """Does any row still search? (one flag read by the host)"""
        return bool(self.xp.isfinite(self.scores).any())

    def advance(self, logp):
        """Extend by one token given log P (B*K, V) of the next token for every beam; returns the
        beam each new beam continues (B*K,), to reorder the decoder's state by."""
        xp, K = self.xp, self.K
        B = self.scores.shape[0]
        total = (self.scores[:, :, None] + logp.reshape(B, K, -1)).reshape(B, -1)
        V = total.shape[1] // K
        cand = xp.argsort(-total, axis=1)[:, :2 * K]
        s = xp.take_along_axis(total, cand, axis=1)
        k, v = cand // V, cand % V
        finite = s > _NEG_INF
        is_eos = finite & (v == self.eos) if self.eos is not None else xp.zeros_like(finite)
        is_live = finite & ~is_eos
        live_before = xp.cumsum(is_live, axis=1) - is_live   # a live candidate's beam, if < K
        slot = xp.where(is_live & (live_before < K), live_before, K)  # slot K collects the rest, then is cut
        new_scores = xp.full((B, K + 1), _NEG_INF)
        parent = xp.zeros((B, K + 1), dtype=np.int64)
        chosen = xp.full((B, K + 1), self.pad, dtype=np.int64)
        for out, values in ((new_scores, s), (parent, k), (chosen, v)):
            xp.put_along_axis(out, slot, values, axis=1)
        new_scores, parent, chosen = new_scores[:, :K], parent[:, :K], chosen[:, :K]

        # finished: an eos candidate ranked among the first K (transformers skips the others)
        finishing = is_eos & (xp.arange(2 * K)[None, :] < K) & (self.n_finished < K)[:, None]
        norm = xp.where(finishing, s / float(self.step + 1) ** self.lp, _NEG_INF)
        j = norm.argmax(axis=1)[:, None]
        step_best = xp.take_along_axis(norm, j, axis=1)[:, 0]
        better = step_best > self.best_score
        hyp = self.tokens[xp.arange(B), xp.take_along_axis(k, j, axis=1)[:, 0]]  # (B, step)
        n = self.step
        self.best_tokens[:, :n] = xp.where(better[:, None], hyp, self.best_tokens[:, :n])
        last = self.eos if self.eos is not None else self.pad
        self.best_tokens[:, n] = xp.where(better, last, self.best_tokens[:, n])
        self.best_score = xp.where(better, step_best, self.best_score)
        self.n_finished += finishing.sum(axis=1)
        self.scores = xp.where((self.n_finished >= K)[:, None], _NEG_INF, new_scores)  # a finished row stops
        self.tokens = xp.concatenate([self.tokens[xp.arange(B)[:, None], parent], chosen[:, :, None]], axis=2)
        self.step += 1
        return (xp.arange(B)[:, None] * K + parent).reshape(-1)

    def finalize(self):
        """(sequences (B, steps), scores (B,)) on the device: each row's best hypothesis, finished
        (eos included, pad after) or live at the end, by log P / length**length_penalty."""
        xp, B, n = self.xp, self.scores.shape[0], self.step
        live = self.scores / float(max(n, 1)) ** self.lp  # -inf for dead beams and stopped rows
        k = live.argmax(axis=1)
        live_best = live[xp.arange(B), k]
        use_live = live_best > self.best_score
        sequences = xp.where(use_live[:, None], self.tokens[xp.arange(B), k], self.best_tokens[:, :n])
        return sequences, xp.where(use_live, live_best, self.best_score)


def beam_search(step: Callable, state, *, batch_size: int, num_beams: int, max_new_tokens: int, xp=np,
                eos_token_id=None, pad_token_id=0, length_penalty: float = 1.0, reorder: Callable = reorder_rows):
    """The most likely continuations by beam search, for any decoder given as
    step(tokens, state) -> (log_probs (B*K, V), state), where tokens (B*K, t) are each beam's new
    tokens so far (t = 0 at the first call: the decoder reads its prompt or start token) and row
    b * K + k is beam k of batch row b; the state is reordered after each step by
    reorder(state, rows) (default: reorder_rows, which handles arrays, Tensors and a KVCache).

    Returns (sequences (B, n) int64, scores (B,)) on xp's device: the best hypothesis of each row
    (eos kept, pad_token_id after it) and its log P / length**length_penalty (Hugging Face's
    length penalty: > 0 favours longer sequences, < 0 shorter). See BeamSearch for the rules."""
    if num_beams < 1:
        raise ValueError(f"beam_search: num_beams must be >= 1, got {num_beams}")
    if max_new_tokens < 1:
        raise ValueError(f"beam_search: max_new_tokens must be >= 1, got {max_new_tokens}")
    search = BeamSearch(batch_size, num_beams, max_new_tokens, eos_token_id, length_penalty, pad_token_id, xp)
    while search.step < max_new_tokens:
        logp, state = step(search.tokens.reshape(batch_size * num_beams, -1), state)
        rows = search.advance(xp.asarray(logp, dtype=np.float64))
        if not search.alive():  # the Python decision: one flag to the host a step
            break
        state = reorder(state, rows)
    return search.finalize()


def strip_after_eos(sequences, eos_token_id) -> list[list[int]]:
    """Host lists of ids, each cut before its first eos (what a translation's decoder returns)."""
    out = []
    for row in sequences.tolist():
        out.append(row[:row.index(eos_token_id)] if eos_token_id in row else row)
    return out
