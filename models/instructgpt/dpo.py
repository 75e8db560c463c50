"""Beyond the lecture, DPO (Rafailov et al. 2023): learn from the same comparisons with no
reward model and no sampling, by a classification loss on the policy itself.

The KL-regularised objective that PPO climbs, max E[r(x, y)] - beta KL(pi || pi_ref), has the
closed-form optimum pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta). Read backwards, a policy
defines a reward r(x, y) = beta log(pi(y|x) / pi_ref(y|x)) + const, and the reward model's
loss (reward.py) written in that reward is

    L_DPO = - log sigma( beta [ (log pi(y_w|x) - log pi_ref(y_w|x))
                              - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

with log pi(y|x) the sum of the response tokens' log-probabilities. The constant cancels in
the difference. pi_ref is the SFT model, frozen; its log-probabilities are computed for the
pairs of each step as it comes (a fraction of an epoch touches a fraction of the pairs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

import minigrad as mg
from minigrad.optim import AdamW, clip_grad_norm_
from minigrad.train import Budget

from .reward import Comparison, epoch_batches, log_sigmoid
from .sequences import encode_pairs, on_device_of, sequence_logprob


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float = 0.1):
    """Mean DPO loss over pairs; (loss, accuracy, chosen reward, rejected reward).

    All four are (N,) sequence log-probabilities: the policy's (Tensors, with graph) and the
    reference's (arrays or Tensors, treated as constants). The implicit rewards
    beta * (log pi - log pi_ref) come back as arrays, for logging."""
    # constants: detached, and on the policy's device (host arrays cross once)
    ref_chosen, ref_rejected = (on_device_of(policy_chosen, r, policy_chosen.dtype).detach()
                                for r in (ref_chosen, ref_rejected))
    chosen_reward = (policy_chosen - ref_chosen) * beta
    rejected_reward = (policy_rejected - ref_rejected) * beta
    margin = chosen_reward - rejected_reward
    loss = -log_sigmoid(margin).mean()
    return loss, float((margin.data > 0).mean()), chosen_reward.numpy(), rejected_reward.numpy()


def comparison_pairs(comparisons: Sequence[Comparison]) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) for every non-tied pair of every comparison."""
    return [(c.prompt, c.responses[w], c.responses[l]) for c in comparisons for w, l in c.pairs]


@dataclass
class DPOConfig:
    epochs: float = 1.0
    batch_size: int = 32          # pairs per step
    beta: float = 0.1
    learning_rate: float = 5e-5
    grad_clip: float = 1.0
    seconds: float | None = None    # a wall-clock budget: stop there if the epochs take longer


def train_dpo(policy, ref, tokenizer, comparisons: Sequence[Comparison], config: DPOConfig,
              seed: int = 0, progress: bool | None = None) -> dict:
    """Train `policy` (a GPT, in place; start it from SFT) with DPO against the frozen `ref`."""
    pairs = comparison_pairs(comparisons)
    if not pairs:
        raise ValueError("train_dpo: the comparisons hold no (chosen, rejected) pairs")
    prompts = [p for p, _, _ in pairs]
    chosen = [c for _, c, _ in pairs]
    rejected = [r for _, _, r in pairs]
    ref.eval()
    rng = np.random.default_rng([seed, 5])
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    block = policy.config.block_size
    history = {"loss": [], "accuracy": [], "margin": []}
    policy.train()
    batches = epoch_batches(len(pairs), config.batch_size, config.epochs, rng)
    budget = Budget(len(batches), config.seconds, desc="dpo", disable=None if progress is None or progress else True)
    while budget.running():
        rows = batches[budget.step]
        # chosen and rejected responses go through the model as one batch
        batch = encode_pairs(tokenizer, [prompts[i] for i in rows] * 2,
                             [chosen[i] for i in rows] + [rejected[i] for i in rows], block)
        logp = sequence_logprob(policy, batch)
        with mg.no_grad():        # the reference's log-probabilities, only for the pairs a step uses
            ref_logp = sequence_logprob(ref, batch)
        n = len(rows)
        loss, accuracy, r_w, r_l = dpo_loss(logp[:n], logp[n:], ref_logp[:n], ref_logp[n:], config.beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        history["loss"].append(loss.item())
        history["accuracy"].append(accuracy)
        history["margin"].append(float((r_w - r_l).mean()))
        budget.tick(history["loss"][-1])
    budget.close()
    history["steps"] = budget.step
    return history
