"""Step 2, the reward model: a scalar score r(x, y) learned from the labeler's rankings.

For each prompt x the SFT model writes K responses and the labeler ranks them. Every pair
(y_w, y_l) in which the labeler prefers y_w gives one term of Ouyang et al.'s loss (eq. 1):

    loss(theta) = - 1 / C(K, 2) * E_(x, y_w, y_l) [ log sigma( r(x, y_w) - r(x, y_l) ) ]

and, as in the paper, all C(K, 2) pairs of a prompt sit in the same batch: the K responses go
through the model once, and the pairs are differences of their K scores. (Treating each pair
as its own example would show each response K - 1 times an epoch and overfit.) Pairs the
labeler scores equally carry no preference and are left out.

r is the SFT GPT's trunk with a linear head on the last response token's hidden state (the
LM head is unused). After training the head is shifted so that the demonstrations score 0
on average (the paper's normalisation), so PPO's reward reads "better or worse than a
demonstration", and scaled so that the compared samples spread by 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.optim import AdamW, clip_grad_norm_
from minigrad.train import Budget
from minigrad_models.gpt import GPT

from .labeler import rank, score
from .sampling import sample_responses
from .sequences import SequenceBatch, encode_pairs, gather_positions, on_device_of


class RewardModel(nn.Module):
    """r(x, y): a GPT trunk and a scalar head. `forward(batch)` scores whole responses (B,);
    `values(batch)` gives the head at every state before a response token (B, L), which is
    how PPO's value function, initialised from this model, reads it."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.gpt = GPT(config)
        self.head = nn.Linear(config.n_embd, 1)

    @classmethod
    def from_gpt(cls, gpt: GPT) -> "RewardModel":
        """A reward model whose trunk starts as a copy of `gpt` (the SFT model)."""
        model = cls(gpt.config).to(gpt.lm_head.weight.device)
        model.gpt.load_state_dict(gpt.state_dict())
        return model

    def forward(self, batch: SequenceBatch):
        h = self.gpt.hidden_states(batch.idx)
        last = (batch.lengths - 1)[:, None]               # the response's last token
        return self.head(gather_positions(h, last)).reshape(-1)

    def values(self, batch: SequenceBatch):
        h = self.gpt.hidden_states(batch.idx)
        return self.head(gather_positions(h, batch.positions)).squeeze(-1)

    @mg.no_grad()
    def score(self, tokenizer, prompts: Sequence[str], responses: Sequence[str],
              batch_size: int = 256) -> np.ndarray:
        """r(x, y) for each pair, as a numpy array (eval mode, no graph)."""
        was_training = self.training
        self.eval()
        try:
            out = [self(encode_pairs(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size],
                                     self.config.block_size)).numpy()
                   for i in range(0, len(prompts), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


# -- comparisons ---------------------------------------------------------------------------------
@dataclass
class Comparison:
    """One prompt, its K responses, the labeler's order of them (best first) and the pairs
    (winner, loser) that order implies, ties left out."""
    prompt: str
    responses: list[str]
    scores: list[float]
    order: list[int] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)


def compare(prompt: str, responses: Sequence[str]) -> Comparison:
    """The labeler ranks `responses`; every pair with different scores becomes (winner, loser)."""
    responses = list(responses)
    scores = [score(prompt, r) for r in responses]
    order = rank(prompt, responses)
    pairs = [(order[a], order[b]) for a in range(len(order)) for b in range(a + 1, len(order))
             if round(scores[order[a]], 9) != round(scores[order[b]], 9)]
    return Comparison(prompt, responses, scores, order, pairs)


def collect_comparisons(policy, tokenizer, prompts: Sequence[str], k: int,
                        temperatures: Sequence[float] = (1.0,), max_new_tokens: int = 40,
                        generator=None) -> list[Comparison]:
    """K samples from `policy` per prompt, ranked by the labeler (the paper's labelling step).

    Sample j of each prompt is drawn at temperatures[j % len(temperatures)]: the paper's
    comparisons came from several policies; several temperatures of one policy give the K
    responses a similar spread of quality. Prompts whose samples all tie carry no preference
    and are dropped."""
    if not 2 <= k <= 9:
        raise ValueError(f"collect_comparisons: k must be between 2 and 9 (the paper uses 4 to 9), got {k}")
    temperatures = [float(t) for t in temperatures]
    samples = [[None] * k for _ in prompts]
    for temperature in sorted(set(temperatures)):
        slots = [j for j in range(k) if temperatures[j % len(temperatures)] == temperature]
        drawn = sample_responses(policy, tokenizer, [p for p in prompts for _ in slots], max_new_tokens,
                                 temperature, generator=generator)
        for n, response in enumerate(drawn):
            samples[n // len(slots)][slots[n % len(slots)]] = response
    out = []
    for prompt, responses in zip(prompts, samples):
        c = compare(prompt, responses)
        if c.pairs:
            out.append(c)
    return out


# -- the loss --------------------------------------------------------------------------------------
def log_sigmoid(x):
    """log sigma(x) = min(x, 0) - log(1 + exp(-|x|)), which never overflows.

    Its gradient is sigma(-x) everywhere, 1/2 at x = 0 too: `minimum` splits a tie's gradient
    in half. (The other stable form, -(relu(-x) + log(1 + exp(-|x|))), has gradient 0 at
    x = 0, and DPO starts exactly there: policy = reference, every margin 0, stuck forever.)"""
    return x.minimum(0.0) - ((-x.abs()).exp() + 1).log()


def pairwise_loss(rewards, winners, losers, prompt_of_pair):
    """Ouyang et al.'s eq. 1 on one batch: rewards (N,) for N responses; pair p says response
    winners[p] beats losers[p] and belongs to prompt prompt_of_pair[p]. Each prompt's pairs are
    averaged (the 1 / C(K, 2)), then the prompts are averaged. Returns (loss, accuracy)."""
    winners, losers = np.asarray(winners), np.asarray(losers)
    prompt_of_pair = np.asarray(prompt_of_pair)
    if len(winners) == 0:
        raise ValueError("pairwise_loss: no pairs")
    _, inverse, counts = np.unique(prompt_of_pair, return_inverse=True, return_counts=True)
    weight = (1.0 / counts[inverse]) / len(counts)       # sums to one
    # the pairs and weights are the batch's: they cross to the rewards' device once
    winners, losers = (on_device_of(rewards, a, np.int64) for a in (winners, losers))
    margin = rewards[winners] - rewards[losers]
    loss = -(log_sigmoid(margin) * on_device_of(margin, weight, margin.dtype)).sum()
    accuracy = float((margin.data > 0).mean())
    return loss, accuracy


def comparison_batch(tokenizer, comparisons: Sequence[Comparison], block_size: int):
    """Every response of these prompts in one SequenceBatch, and the pairs as row indices."""
    prompts, responses, winners, losers, owner = [], [], [], [], []
    for c_index, c in enumerate(comparisons):
        offset = len(responses)
        prompts += [c.prompt] * len(c.responses)
        responses += c.responses
        for w, l in c.pairs:
            winners.append(offset + w)
            losers.append(offset + l)
            owner.append(c_index)
    return encode_pairs(tokenizer, prompts, responses, block_size), winners, losers, owner


@dataclass
class RewardConfig:
    epochs: float = 1.0             # the paper trains one epoch: more overfits
    prompts_per_batch: int = 8      # x K responses each
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seconds: float | None = None    # a wall-clock budget: stop there if the epochs take longer


def epoch_batches(n: int, batch_size: int, epochs: float, rng) -> list[np.ndarray]:
    """Index batches covering a fresh permutation of range(n) each epoch (a fractional last
    epoch stops early); at least one batch."""
    batches = []
    total = max(1, int(round(epochs * -(-n // batch_size))))
    while len(batches) < total:
        order = rng.permutation(n)
        batches += [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return batches[:total]


def train_reward_model(model: RewardModel, tokenizer, comparisons: Sequence[Comparison],
                       config: RewardConfig, seed: int = 0, progress: bool | None = None) -> dict:
    """Minimise the pairwise loss over batches of prompts; {"loss": [...], "accuracy": [...]}."""
    if not comparisons:
        raise ValueError("train_reward_model: no comparisons (every prompt's samples tied?)")
    rng = np.random.default_rng([seed, 3])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    history = {"loss": [], "accuracy": []}
    model.train()
    batches = epoch_batches(len(comparisons), config.prompts_per_batch, config.epochs, rng)
    budget = Budget(len(batches), config.seconds, desc="reward model",
                    disable=None if progress is None or progress else True)
    while budget.running():
        chosen = batches[budget.step]
        batch, winners, losers, owner = comparison_batch(tokenizer, [comparisons[i] for i in chosen],
                                                         model.config.block_size)
        loss, accuracy = pairwise_loss(model(batch), winners, losers, owner)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        history["loss"].append(loss.item())
        history["accuracy"].append(accuracy)
        budget.tick(history["loss"][-1])
    budget.close()
    history["steps"] = budget.step
    return history


def pairwise_accuracy(model: RewardModel, tokenizer, comparisons: Sequence[Comparison]) -> float:
    """The fraction of the labeler's (non-tied) pairs in which r(winner) > r(loser)."""
    prompts = [c.prompt for c in comparisons for _ in c.responses]
    r = model.score(tokenizer, prompts, [y for c in comparisons for y in c.responses])
    correct = total = offset = 0
    for c in comparisons:
        correct += sum(bool(r[offset + w] > r[offset + l]) for w, l in c.pairs)
        total += len(c.pairs)
        offset += len(c.responses)
    if total == 0:
        raise ValueError("pairwise_accuracy: the comparisons hold no pairs")
    return correct / total


@mg.no_grad()
def normalize_to_demonstrations(model: RewardModel, tokenizer, demonstrations: Sequence[tuple[str, str]],
                                samples: Sequence[tuple[str, str]] | None = None) -> tuple[float, float]:
    """Rescale the head so that the demonstrations score 0 on average (the paper) and, given
    `samples` (e.g. the SFT responses that were compared), so that their scores have standard
    deviation 1. The pairwise loss fixes neither the level nor the scale of r; fixing the scale
    makes PPO's KL coefficient and value clipping mean the same from one run to the next.
    Returns (shift, scale): r_new = (r_old - shift) / scale."""
    scale = 1.0
    if samples:
        r = model.score(tokenizer, [p for p, _ in samples], [y for _, y in samples])
        scale = float(r.std()) or 1.0
    r = model.score(tokenizer, [p for p, _ in demonstrations], [y for _, y in demonstrations])
    shift = float(r.mean())
    model.head.bias.sub_(shift)
    model.head.bias.div_(scale)
    model.head.weight.div_(scale)
    return shift, scale
