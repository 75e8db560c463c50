"""Sampling responses: a batch of prompts of different lengths, each answered until "\\n".

GPT.generate extends a batch of equal-length prompts by a fixed number of tokens. RLHF needs
prompts of every length in one batch and responses that stop at the end marker. Padding a
short prompt on the left would move its positions (GPT's positions are learned and absolute),
so instead every row walks forward in lock step from the shortest prompt's end: a row still
inside its prompt is fed its own next prompt token (teacher forcing), a row past it is fed the
token just sampled. Every row sees exactly its own prompt at its own positions, and one key/
value cache serves the whole batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

import minigrad as mg
from minigrad.backend import to_device, to_numpy, xp_of
from minigrad.nn.attention import KVCache
from minigrad.generation import sample_next

from .task import RESPONSE_END


@mg.no_grad()
def sample_responses(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 40,
                     temperature: float = 1.0, top_k: int | None = None, generator=None,
                     batch_size: int = 256) -> list[str]:
    """One response per prompt, sampled from `model` (a GPT) until it writes "\\n".

    A response ends at its first "\\n" (which it keeps), or after `max_new_tokens`
    characters, or where the context is full (block_size), whichever comes first.
    temperature=0 is greedy. `generator`: a minigrad.Generator, for repeatable samples."""
    if max_new_tokens < 1:
        raise ValueError(f"sample_responses: max_new_tokens must be >= 1, got {max_new_tokens}")
    end_id = tokenizer.encode(RESPONSE_END)[0]
    rng = mg.random.get_rng(generator, model.lm_head.weight.xp)  # drawn where the model is
    out = []
    for start in range(0, len(prompts), batch_size):
        out += _sample_chunk(model, tokenizer, prompts[start:start + batch_size], max_new_tokens,
                             temperature, top_k, rng, end_id)
    return out


def _sample_chunk(model, tokenizer, prompts, max_new_tokens, temperature, top_k, rng, end_id):
    block = model.config.block_size
    encoded = [tokenizer.encode(p) for p in prompts]
    lens = np.array([len(p) for p in encoded])
    if lens.min() < 1 or lens.max() >= block:
        raise ValueError(f"sample_responses: prompts must be 1 to {block - 1} tokens long "
                         f"(block_size {block}), got lengths {lens.min()} to {lens.max()}")
    B = len(encoded)
    limit = np.minimum(lens + max_new_tokens, block)     # each row's last position + 1
    seq = np.zeros((B, int(limit.max())), dtype=np.int64)
    for i, p in enumerate(encoded):
        seq[i, :len(p)] = p
    # the prompts go to the model's device once; the loop runs there, and the host reads one flag
    # a step (has every row ended?) and the tokens at the end
    device = model.lm_head.weight.device
    seq_d, lens_d, limit_d = (to_device(a, device) for a in (seq, lens, limit))
    xp = xp_of(seq_d)
    done = xp.zeros(B, dtype=bool)
    was_training = model.training
    model.eval()
    try:
        cache = KVCache()
        t = int(lens.min())
        logits, _ = model(mg.as_tensor(seq_d[:, :t]), kv_cache=cache)
        while True:
            nxt = sample_next(logits.data[:, -1, :], temperature, top_k, None, rng)
            writing = (t >= lens_d) & ~done               # rows past their prompt, not ended
            seq_d[:, t] = xp.where(writing, nxt, seq_d[:, t])
            done |= writing & (nxt == end_id)
            t += 1
            done |= t >= limit_d
            if done.all():
                break
            logits, _ = model(mg.as_tensor(seq_d[:, t - 1:t]), kv_cache=cache)
    finally:
        model.train(was_training)
    seq = to_numpy(seq_d)
    return [tokenizer.decode(seq[i, lens[i]:_response_end(seq[i], lens[i], limit[i], end_id)].tolist())
            for i in range(B)]


def _response_end(row, start, stop, end_id):
    """One past the response's last token: just after its first end marker, else `stop`."""
    hits = np.nonzero(row[start:stop] == end_id)[0]
    return start + int(hits[0]) + 1 if len(hits) else stop
