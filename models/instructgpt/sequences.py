"""Prompt + response pairs as padded token batches, and what a GPT says about their responses.

Every step of RLHF asks the same questions of a batch of (prompt, response) pairs: the
log-probability of each response token under a policy (SFT loss, PPO ratios, KL, DPO), the
value of the state before each response token (PPO's critic), and one scalar for the whole
response (the reward model). This file answers them once.

A row is the prompt's tokens, then the response's, then padding on the right::

    idx   = Q : _ r e v e r s e _ c a t \\n A : | _ t a c \\n | 0 0 0
            <-------------- prompt, p ----------> <- resp, L -> padding

The GPT is causal, so padding on the right changes nothing at the real positions; it is
never read because every result is masked to j < L. Response token j sits at position
p + j, and the logits that predict it are those at position p + j - 1 (`positions`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

PAD_ID = 0   # any id works: a padded position is never attended to by a real one, nor read


@dataclass
class SequenceBatch:
    """Padded (prompt, response) rows; see the module docstring for the layout."""
    idx: np.ndarray            # (B, T) int64
    prompt_lens: np.ndarray    # (B,) p_i
    response_lens: np.ndarray  # (B,) L_i >= 1

    def __len__(self) -> int:
        return self.idx.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        return self.prompt_lens + self.response_lens

    @property
    def max_response_len(self) -> int:
        return int(self.response_lens.max())

    @property
    def response_mask(self) -> np.ndarray:
        """(B, L_max) float32: 1 where response token j exists (j < L_i), else 0."""
        j = np.arange(self.max_response_len)[None, :]
        return (j < self.response_lens[:, None]).astype(np.float32)

    @property
    def positions(self) -> np.ndarray:
        """(B, L_max): the position whose logits predict response token j (p_i + j - 1);
        padding entries point at a real position and are masked out later."""
        j = np.arange(self.max_response_len)[None, :]
        pos = self.prompt_lens[:, None] - 1 + j
        return np.minimum(pos, self.lengths[:, None] - 1)

    @property
    def response_tokens(self) -> np.ndarray:
        """(B, L_max) int64: the response's token ids, PAD_ID beyond each end."""
        rows = np.arange(len(self))[:, None]
        tokens = self.idx[rows, np.minimum(self.positions + 1, self.idx.shape[1] - 1)]
        return np.where(self.response_mask > 0, tokens, PAD_ID)

    def lm_targets(self) -> np.ndarray:
        """(B, T) next-token targets for GPT.forward with the prompt masked out: target[t] is
        idx[t + 1] where that token is part of the response, -1 (ignored) everywhere else.
        Supervised fine-tuning learns to answer, not to write prompts."""
        targets = np.full(self.idx.shape, -1, dtype=np.int64)
        rows = np.repeat(np.arange(len(self)), self.response_lens)
        cols = self.positions[self.response_mask > 0]
        targets[rows, cols] = self.response_tokens[self.response_mask > 0]
        return targets

    def select(self, rows) -> "SequenceBatch":
        """A sub-batch (a PPO minibatch), trimmed to its own longest row."""
        rows = np.asarray(rows)
        lengths = self.lengths[rows]
        return SequenceBatch(self.idx[rows, :int(lengths.max())], self.prompt_lens[rows],
                             self.response_lens[rows])


def encode_pairs(tokenizer, prompts: Sequence[str], responses: Sequence[str],
                 block_size: int) -> SequenceBatch:
    """Tokenize and pad (prompt, response) pairs into one batch."""
    if len(prompts) != len(responses):
        raise ValueError(f"encode_pairs: {len(prompts)} prompts but {len(responses)} responses")
    if not prompts:
        raise ValueError("encode_pairs: no pairs to encode")
    encoded = []
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        p, r = tokenizer.encode(prompt), tokenizer.encode(response)
        if not p or not r:
            raise ValueError(f"encode_pairs: pair {i} has an empty prompt or response "
                             f"({prompt!r}, {response!r}); both need at least one character")
        if len(p) + len(r) > block_size:
            raise ValueError(f"encode_pairs: pair {i} is {len(p) + len(r)} tokens long, more than "
                             f"block_size={block_size} ({prompt!r} + {response!r}); use a larger "
                             f"block_size or cut the response")
        encoded.append((p, r))
    T = max(len(p) + len(r) for p, r in encoded)
    idx = np.full((len(encoded), T), PAD_ID, dtype=np.int64)
    for i, (p, r) in enumerate(encoded):
        idx[i, :len(p) + len(r)] = p + r
    prompt_lens = np.array([len(p) for p, _ in encoded], dtype=np.int64)
    response_lens = np.array([len(r) for _, r in encoded], dtype=np.int64)
    return SequenceBatch(idx, prompt_lens, response_lens)


# -- what a GPT computes on a batch ------------------------------------------------------------
# The batch's arrays live on the host (they come from the tokenizer); where they meet a model's
# tensors they cross to its device, once, explicitly (`on_device_of`): the batch going in.
def on_device_of(like: Tensor, array, dtype=None) -> Tensor:
    """`array` (host data, or a tensor already there) as a tensor on like's device."""
    return mg.as_tensor(array if isinstance(array, Tensor) else np.asarray(array, dtype=dtype),
                        dtype=dtype, device=like.device)


def gather_positions(h: Tensor, positions) -> Tensor:
    """h[i, positions[i, j]] for (B, T, C) h and (B, L) positions -> (B, L, C)."""
    rows = h.xp.arange(h.shape[0])[:, None]
    return h[rows, on_device_of(h, positions).data]


def response_logits(gpt, batch: SequenceBatch) -> Tensor:
    """(B, L_max, V): the logits that predict each response token (padding entries are junk)."""
    h = gpt.hidden_states(batch.idx)
    return gpt.lm_head(gather_positions(h, batch.positions))


def token_logprobs(logits: Tensor, tokens) -> Tensor:
    """log softmax(logits)[..., token]: (B, L, V) logits and (B, L) ids -> (B, L)."""
    logp = logits.log_softmax(-1)
    return logp.gather(-1, on_device_of(logits, tokens, np.int64).unsqueeze(-1)).squeeze(-1)


def entropy(logits: Tensor) -> Tensor:
    """H = -sum_v p_v log p_v per position: (B, L, V) -> (B, L)."""
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def response_logprobs(gpt, batch: SequenceBatch) -> Tensor:
    """(B, L_max) log pi(y_j | x, y_<j); multiply by batch.response_mask before summing."""
    return token_logprobs(response_logits(gpt, batch), batch.response_tokens)


def sequence_logprob(gpt, batch: SequenceBatch) -> Tensor:
    """(B,) log pi(y | x) = sum_j log pi(y_j | x, y_<j) over each response's real tokens."""
    logp = response_logprobs(gpt, batch)
    return (logp * on_device_of(logp, batch.response_mask)).sum(-1)


def masked_mean(x, mask):
    """The mean of x over the entries where mask is 1. x and mask: arrays, or tensors on one device
    (a host mask meeting a tensor crosses to its device; the count is read on the host)."""
    if isinstance(x, Tensor):
        mask = on_device_of(x, mask, x.dtype)
        n = float(mask.data.sum())
    else:
        n = float(np.sum(mask))
    if n == 0:
        raise ValueError(f"masked_mean: the mask (shape {tuple(np.shape(mask))}) selects nothing")
    return (x * mask).sum() / n
