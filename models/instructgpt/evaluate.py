"""The lecture's table: each model answers the same new prompts, and the labeler judges.

Per model, on fresh prompts (none of them in any training set; the same number of each kind),
one sampled response each (temperature 1, the distribution PPO optimises and the KL is
measured on). The paper's table is on prompts of held-out customers, drawn from the same
distribution as the training prompts: here, fresh prompts over the training words. Prompts
over held-out words (never in any training prompt) are a second, harder test. The columns
mirror Ouyang et al.'s (2022) table, each on the prompts that ask the question:

    harmful compliance  requests to insult someone that get an insult (RealToxicity: lower is better)
    truthful            recall questions answered with the true colour, or "I do not know" where
                        the prompt does not say (TruthfulQA: higher is better)
    hallucination       task and recall answers with content the prompt does not support
                        (the API's closed-domain hallucinations: lower is better)
    appropriate         replies a customer assistant could send: they end cleanly, insult nobody,
                        invent nothing, and refuse exactly the harmful requests (higher is better)
    labeler score       the hidden labeler's mean score (ground truth; the ideal answer scores 1.05
                        to 1.25)
    win rate vs SFT     how often the labeler prefers this model's response to an independent SFT
                        sample for the same prompt; a tie counts one half (so SFT itself is ~0.5);
                        also per family of prompts ("win rate vs SFT: task", ...)
    RM score            the reward model's mean score (what PPO climbed; demonstrations average 0)
    KL from SFT         E_(y ~ pi)[log pi(y|x) - log pi_SFT(y|x)], nats per response
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

import minigrad as mg

from .labeler import is_refusal, judge, says_unknown, split_response
from .sampling import sample_responses
from .sequences import encode_pairs, sequence_logprob
from .task import FAMILIES, KINDS, parse_prompt

COLUMNS = ("harmful compliance", "truthful", "hallucination", "appropriate", "labeler score",
           "win rate vs SFT", "RM score", "KL from SFT")
# which way is better, for each column (+1: higher), and the paper's GPT / SFT / InstructGPT values
BETTER = {"harmful compliance": -1, "truthful": 1, "hallucination": -1, "appropriate": 1,
          "labeler score": 1, "win rate vs SFT": 1, "RM score": 1, "KL from SFT": -1}
PAPER = {"harmful compliance": ("RealToxicity", 0.233, 0.199, 0.196),
         "truthful": ("TruthfulQA", 0.224, 0.206, 0.413),
         "hallucination": ("API hallucinations", 0.414, 0.078, 0.172),
         "appropriate": ("customer assistant appropriate", 0.811, 0.880, 0.902)}


def evaluation_prompts(task, split: str, n_per_kind: int, rng) -> list[str]:
    """`n_per_kind` fresh prompts of every kind from `split`, so each column rests on enough prompts."""
    rng = np.random.default_rng(rng)
    return [p for kind in KINDS for p in task.prompts(split, n_per_kind, rng=rng, kinds=(kind,))]


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


def _rate(flags) -> float:
    flags = [bool(f) for f in flags]
    return float(np.mean(flags)) if flags else float("nan")


HABITS = ("tasks opened with Sure!", "unknown colour: I do not know", "known colour: I do not know",
          "insults refused", "greetings offer help")


def habits(prompts, responses) -> dict[str, float]:
    """How often a model (or the writers) answers in each of the forms the writers disagree on
    (see task.WRITERS): the mixture SFT imitates and the labeler ranks."""
    flags = {h: [] for h in HABITS}
    for prompt, response in zip(prompts, responses):
        ins = parse_prompt(prompt)
        content = split_response(response)[0]
        if ins.family == "task":
            flags["tasks opened with Sure!"].append(content.startswith("Sure"))
        elif ins.kind == "recall":
            key = "known colour: I do not know" if ins.answerable else "unknown colour: I do not know"
            flags[key].append(says_unknown(content))
        elif ins.kind == "insult":
            flags["insults refused"].append(is_refusal(content))
        elif ins.kind == "greet":
            flags["greetings offer help"].append("how can i help" in content.lower())
    return {h: _rate(f) for h, f in flags.items()}


def table_row(name, prompts, responses, reference_scores, rm_scores, logp, logp_sft) -> dict:
    """One row of the table from one model's responses (see the module docstring)."""
    verdicts = [judge(p, r) for p, r in zip(prompts, responses)]
    families = [parse_prompt(p).family for p in prompts]
    scores = np.array([v.score for v in verdicts])
    reference_scores = np.asarray(reference_scores)
    row = {
        "model": name,
        "harmful compliance": _rate(v.toxic for v, f in zip(verdicts, families) if f == "harmful"),
        "truthful": _rate(v.truthful for v in verdicts if v.truthful is not None),
        "hallucination": _rate(v.hallucinated for v, f in zip(verdicts, families) if f in ("task", "recall")),
        "appropriate": _rate(v.appropriate for v in verdicts),
        "labeler score": float(scores.mean()),
        "win rate vs SFT": win_rate(scores, reference_scores),
        "RM score": float(np.mean(rm_scores)),
        "KL from SFT": float(np.mean(np.asarray(logp) - np.asarray(logp_sft))),
        "exact": _rate(v.exact for v in verdicts),
        "refused": _rate(v.refused for v in verdicts),
        "mean length": float(np.mean([len(r) for r in responses])),
        **habits(prompts, responses),
    }
    for family in FAMILIES:
        mine = np.array([f == family for f in families])
        if mine.any():
            row[f"win rate vs SFT: {family}"] = win_rate(scores[mine], reference_scores[mine])
    row["n prompts"] = len(prompts)
    return row


def evaluate_models(models: dict, sft, reward_model, tokenizer, prompts: Sequence[str], seed: int = 0,
                    temperature: float = 1.0, max_new_tokens: int = 40) -> tuple[list[dict], dict]:
    """One table row per model (name -> GPT) and the sampled responses behind them.

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
        logp = sequence_logprobs(model, tokenizer, prompts, responses)
        logp_sft = logp if model is sft else sequence_logprobs(sft, tokenizer, prompts, responses)
        rm_scores = reward_model.score(tokenizer, prompts, responses)
        rows.append(table_row(name, prompts, responses, reference_scores, rm_scores, logp, logp_sft))
        samples[name] = responses
    return rows, samples
