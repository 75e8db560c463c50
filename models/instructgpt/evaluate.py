"""The lecture's table: each model answers the same held-out prompts, and the labeler judges.

Per model, on `n` held-out prompts (words never seen in any training prompt), one sampled
response each (temperature 1, the distribution PPO optimises and the KL is measured on):

    labeler score    the hidden labeler's mean score (ground truth; the ideal answer scores 1.05)
    win rate vs SFT  how often the labeler prefers this model's response to an independent SFT
                     sample for the same prompt; a tie counts one half (so SFT itself is ~0.5)
    RM score         the reward model's mean score (what PPO climbed; demonstrations average 0)
    KL from SFT      E_(y ~ pi)[log pi(y|x) - log pi_SFT(y|x)], nats per response
    hallucination    the fraction of responses with content the prompt does not support
    exact            the fraction of responses that are exactly the ideal answer
    greedy score     the labeler's mean score of the greedy (temperature 0) responses
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

import minigrad as mg

from .labeler import judge
from .sampling import sample_responses
from .sequences import encode_pairs, sequence_logprob


@mg.no_grad()
def sequence_logprobs(model, tokenizer, prompts, responses, batch_size: int = 256) -> np.ndarray:
    """log pi(y|x) for each pair (eval mode, no graph)."""
    was_training = model.training
    model.eval()
    try:
        out = [sequence_logprob(model, encode_pairs(tokenizer, prompts[i:i + batch_size],
                                                    responses[i:i + batch_size],
                                                    model.config.block_size)).numpy()
               for i in range(0, len(prompts), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def win_rate(scores, reference_scores) -> float:
    """P(score > reference) + P(tie) / 2, the labeler's preference rate over paired samples."""
    a, b = np.round(np.asarray(scores), 9), np.round(np.asarray(reference_scores), 9)
    return float(np.mean((a > b) + 0.5 * (a == b)))


def evaluate_models(models: dict, sft, reward_model, tokenizer, prompts: Sequence[str], seed: int = 0,
                    temperature: float = 1.0, max_new_tokens: int = 40) -> tuple[list[dict], dict]:
    """One table row per model (name -> GPT) and the responses behind them.

    Every model samples with the same generator seed; the SFT reference that the win rates are
    measured against is an independent SFT sample (another seed)."""
    prompts = list(prompts)
    reference = sample_responses(sft, tokenizer, prompts, max_new_tokens, temperature,
                                 generator=mg.Generator(seed + 9001))
    reference_scores = [judge(p, r).score for p, r in zip(prompts, reference)]
    rows, samples = [], {}
    for name, model in models.items():
        responses = sample_responses(model, tokenizer, prompts, max_new_tokens, temperature,
                                     generator=mg.Generator(seed + 9000))
        greedy = sample_responses(model, tokenizer, prompts, max_new_tokens, 0.0)
        verdicts = [judge(p, r) for p, r in zip(prompts, responses)]
        scores = [v.score for v in verdicts]
        logp = sequence_logprobs(model, tokenizer, prompts, responses)
        logp_sft = sequence_logprobs(sft, tokenizer, prompts, responses)
        rows.append({
            "model": name,
            "labeler score": float(np.mean(scores)),
            "win rate vs SFT": win_rate(scores, reference_scores),
            "RM score": float(reward_model.score(tokenizer, prompts, responses).mean()),
            "KL from SFT": float(np.mean(logp - logp_sft)),
            "hallucination": float(np.mean([v.hallucinated for v in verdicts])),
            "exact": float(np.mean([v.exact for v in verdicts])),
            "greedy score": float(np.mean([judge(p, r).score for p, r in zip(prompts, greedy)])),
            "mean length": float(np.mean([len(r) for r in responses])),
            "n prompts": len(prompts),
            "seed": seed,
        })
        samples[name] = {"sampled": responses, "greedy": greedy}
    return rows, samples
