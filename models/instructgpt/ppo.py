"""Step 3, PPO: the policy (from SFT) writes, the reward model scores, and the policy moves
toward higher scores without straying far from SFT.

The reward of a response y to a prompt x, spread over its tokens y_1..y_L (Ziegler et al.
2019; Ouyang et al. 2022, eq. 2 without the ptx term):

    r_t = - beta * (log pi_old(y_t | s_t) - log pi_ref(y_t | s_t))      every token: the KL penalty
          + [t = L] * r_theta(x, y)                                       the last token: the reward model

where s_t = (x, y_<t) and pi_ref is the frozen SFT model. Summed over t, the penalty is beta
times a one-sample estimate of KL(pi || pi_ref): the policy pays for every token it makes
likelier than SFT did, which keeps it where the reward model was trained.

Advantages by GAE (Schulman et al. 2016), with V the value function (initialised from the
reward model, as in the paper):

    delta_t = r_t + gamma * V(s_(t+1)) - V(s_t)          V(s_(L+1)) = 0: the episode ends
    A_t     = delta_t + gamma * lambda * A_(t+1)          returns R_t = A_t + V(s_t)

then, over a few epochs of minibatches of each rollout, the clipped surrogate (Schulman et
al. 2017), with rho_t = pi(y_t | s_t) / pi_old(y_t | s_t) and advantages whitened per rollout:

    L_policy = - mean_t min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)
    L_value  = 1/2 mean_t max((V - R_t)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R_t)^2)
    L = L_policy + c_v L_value [+ gamma_ptx * L_pretrain]        (PPO-ptx, optional)

Where the ratio has left [1 - eps, 1 + eps] in the direction the advantage rewards, the min
picks the clipped term, which is constant: those tokens give exactly zero gradient, so one
rollout cannot drag the policy far from the policy that collected it.

Two choices beyond the paper, both measured on this task: the value function is fitted alone
for a few rollouts before the policy moves (`value_warmup`: the reward model's head, trained
on whole responses, is noise on a prefix, and GAE passes that noise into the advantages; PPO
without the warm-up wrecked the SFT policy in a few rollouts even against the true labeler),
and beta follows the adaptive controller toward a target KL by default.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad.optim import AdamW, clip_grad_norm_
from minigrad.tensor import Tensor
from minigrad.train import Budget

from .labeler import score as labeler_score
from .sampling import sample_responses
from .sequences import (SequenceBatch, encode_pairs, entropy, masked_mean, on_device_of, response_logits,
                        response_logprobs, token_logprobs)


# -- the math, as pure functions ------------------------------------------------------------------
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, beta: float):
    """Per-token rewards (B, L) and the per-token KL estimate log pi_old - log pi_ref (B, L).

    scores (B,): the reward model's r(x, y); logprobs, ref_logprobs (B, L): log pi_old(y_t) and
    log pi_ref(y_t); mask (B, L): 1 on real response tokens. The score is added at each row's
    last real token; padding gets 0."""
    scores, logprobs, ref_logprobs, mask = (np.asarray(a, dtype=np.float64)
                                            for a in (scores, logprobs, ref_logprobs, mask))
    lengths = mask.sum(1).astype(np.int64)
    if (lengths < 1).any():
        raise ValueError("kl_penalized_rewards: every row needs at least one response token in mask")
    kl = (logprobs - ref_logprobs) * mask
    rewards = -beta * kl
    rewards[np.arange(len(scores)), lengths - 1] += scores
    return rewards, kl


def gae(rewards, values, mask, gamma: float = 1.0, lam: float = 0.95):
    """Generalised advantage estimates and returns, both (B, L) and 0 on padding.

    Row i's episode is its first sum(mask[i]) tokens; the value after its last token is 0."""
    rewards, values, mask = (np.asarray(a, dtype=np.float64) for a in (rewards, values, mask))
    B, L = rewards.shape
    advantages = np.zeros((B, L))
    next_value = np.zeros(B)
    next_advantage = np.zeros(B)
    for t in reversed(range(L)):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * m
        next_value = values[:, t] * m       # 0 beyond a row's end: the terminal state
        next_advantage = advantages[:, t]
    returns = (advantages + values) * mask
    return advantages, returns


def whiten(x, mask, eps: float = 1e-8):
    """(x - mean) / std over the masked entries (advantage normalisation); 0 on padding."""
    x, mask = np.asarray(x, dtype=np.float64), np.asarray(mask, dtype=np.float64)
    n = mask.sum()
    if n < 2:
        raise ValueError(f"whiten: need at least 2 masked entries, got {int(n)}")
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    return (x - mean) / np.sqrt(var + eps) * mask


def ppo_policy_loss(logprobs: Tensor, old_logprobs, advantages, mask, clip_eps: float = 0.2):
    """The clipped surrogate, negated to be minimised; (loss, fraction of tokens clipped).

    logprobs (B, L): log pi(y_t) under the current policy (with graph); old_logprobs,
    advantages, mask (B, L): arrays from the rollout."""
    # the rollout's arrays cross to the policy's device once (the minibatch going in)
    old_logprobs, advantages, m = (on_device_of(logprobs, a, logprobs.dtype) for a in (old_logprobs, advantages, mask))
    ratio = (logprobs - old_logprobs).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -masked_mean(unclipped.minimum(clipped), m)
    clip_fraction = float(((clipped.data < unclipped.data) * m.data).sum() / m.data.sum())
    return loss, clip_fraction


def ppo_value_loss(values: Tensor, old_values, returns, mask, clip_eps: float = 0.2):
    """The clipped value loss (PPO2 / TRL); (loss, fraction of tokens where clipping bit)."""
    old_values, returns, m = (on_device_of(values, a, values.dtype) for a in (old_values, returns, mask))
    clipped = (values - old_values).clamp(-clip_eps, clip_eps) + old_values
    err = (values - returns) ** 2
    err_clipped = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(err.maximum(err_clipped), m)
    clip_fraction = float(((err_clipped.data > err.data) * m.data).sum() / m.data.sum())
    return loss, clip_fraction


class FixedKLController:
    """beta stays where it starts."""

    def __init__(self, kl_coef: float):
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. (2019): move beta so that the KL tracks a target,

        e = clip(KL / target - 1, -0.2, 0.2);   beta <- beta * (1 + e * n_steps / horizon)
    """

    def __init__(self, kl_coef: float, target: float, horizon: int):
        if target <= 0 or horizon <= 0:
            raise ValueError(f"AdaptiveKLController: target and horizon must be > 0, got {target}, {horizon}")
        self.value, self.target, self.horizon = float(kl_coef), float(target), int(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        error = float(np.clip(current_kl / self.target - 1.0, -0.2, 0.2))
        self.value *= 1.0 + error * n_steps / self.horizon


# -- the training loop ----------------------------------------------------------------------------------
@dataclass
class PPOConfig:
    """PPO's settings; the defaults are the full run's, tuned on this task (see lesson 8)."""
    iterations: int = 24          # rollouts after the warm-up
    rollout_size: int = 128       # prompts (= responses) per rollout
    minibatch_size: int = 64
    epochs: int = 2               # passes over each rollout
    learning_rate: float = 5e-5   # policy
    value_learning_rate: float = 3e-4
    kl_coef: float = 0.1          # beta per token (its start, if adaptive), on rewards of unit spread
    adaptive_kl: bool = True      # Ziegler et al.'s controller instead of a fixed beta
    kl_target: float = 1.5        # nats per response, if adaptive: moving the writers' mixture toward the
                                  # labeler's favourite forms costs about 0.6 nats, sharpening the rest more
    kl_horizon: int = 500         # responses
    gamma: float = 1.0
    lam: float = 0.95
    clip_eps: float = 0.2
    value_clip_eps: float = 0.2
    value_coef: float = 0.1       # c_v; V is its own network with its own Adam here, so this
                                  # weight matters little (Adam is scale-free): kept for the objective
    whiten_advantages: bool = True
    ptx_coef: float = 0.0         # gamma_ptx of PPO-ptx; 0 is plain PPO
    ptx_batch_size: int = 16
    temperature: float = 1.0
    max_new_tokens: int = 40
    grad_clip: float = 1.0
    value_warmup: int = 2         # rollouts of value-only updates before the policy moves
    seconds: float | None = None  # a wall-clock budget for the rollouts after the warm-up


CURVES = ("reward", "labeler", "kl", "value_loss", "clip_fraction", "entropy", "kl_coef",
          "policy_loss", "value_clip_fraction", "approx_kl", "response_length", "ptx_loss")


@dataclass
class Rollout:
    """One batch of experience: prompts, sampled responses, and per-token arrays (B, L)."""
    prompts: list
    responses: list
    batch: SequenceBatch
    mask: np.ndarray
    old_logprobs: np.ndarray
    ref_logprobs: np.ndarray
    old_values: np.ndarray
    scores: np.ndarray          # (B,) the reward model's r(x, y)
    rewards: np.ndarray         # per token, with the KL penalty
    kl: np.ndarray              # per token, log pi_old - log pi_ref
    advantages: np.ndarray
    returns: np.ndarray


class PPOTrainer:
    """PPO against a reward model, one `step` per rollout (see the module docstring).

    policy: the GPT to train (in place; start it from SFT). ref: the frozen SFT GPT.
    value_model: a RewardModel whose `values` is the critic (trained in place; start it from
    the reward model). reward_model: frozen. prompt_source(n, rng) -> n prompts.
    ptx_batches() -> (x, y) pre-training batches, needed when config.ptx_coef > 0."""

    def __init__(self, policy, ref, value_model, reward_model, tokenizer, prompt_source,
                 config: PPOConfig, seed: int = 0, ptx_batches=None):
        if config.ptx_coef > 0 and ptx_batches is None:
            raise ValueError("PPOTrainer: ptx_coef > 0 needs ptx_batches (pre-training batches)")
        if not 0 < config.minibatch_size <= config.rollout_size:
            raise ValueError(f"PPOTrainer: minibatch_size must be in [1, rollout_size={config.rollout_size}], "
                             f"got {config.minibatch_size}")
        self.policy, self.ref, self.value_model, self.reward_model = policy, ref, value_model, reward_model
        self.tokenizer, self.prompt_source = tokenizer, prompt_source
        self.config, self.ptx_batches = config, ptx_batches
        self.rng = np.random.default_rng([seed, 4])
        self.generator = mg.Generator(seed + 4000)
        self.policy_params = [p for p in policy.parameters() if p.requires_grad]
        self.value_params = [p for p in value_model.parameters() if p.requires_grad]
        self.policy_opt = AdamW(self.policy_params, lr=config.learning_rate, weight_decay=0.0)
        self.value_opt = AdamW(self.value_params, lr=config.value_learning_rate, weight_decay=0.0)
        self.kl_ctl = (AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
                       if config.adaptive_kl else FixedKLController(config.kl_coef))
        ref.eval()
        reward_model.eval()

    @mg.no_grad()
    def rollout(self) -> Rollout:
        """Sample responses, then score every token with pi_old, pi_ref, V and the reward model."""
        c = self.config
        prompts = self.prompt_source(c.rollout_size, self.rng)
        responses = sample_responses(self.policy, self.tokenizer, prompts, c.max_new_tokens, c.temperature,
                                     generator=self.generator)
        batch = encode_pairs(self.tokenizer, prompts, responses, self.policy.config.block_size)
        mask = batch.response_mask
        old_logprobs = response_logprobs(self.policy, batch).numpy()
        ref_logprobs = response_logprobs(self.ref, batch).numpy()
        old_values = self.value_model.values(batch).numpy()
        scores = self.reward_model(batch).numpy()
        rewards, kl = kl_penalized_rewards(scores, old_logprobs, ref_logprobs, mask, self.kl_ctl.value)
        advantages, returns = gae(rewards, old_values, mask, c.gamma, c.lam)
        if c.whiten_advantages:
            advantages = whiten(advantages, mask)
        return Rollout(prompts, responses, batch, mask, old_logprobs, ref_logprobs, old_values, scores,
                       rewards, kl, advantages, returns)

    def update(self, ro: Rollout, train_policy: bool = True) -> dict:
        """Several epochs of minibatch steps on one rollout; the mean of each statistic.
        train_policy=False fits the value function alone (the warm-up)."""
        c = self.config
        stats = {k: [] for k in ("policy_loss", "value_loss", "clip_fraction", "value_clip_fraction",
                                 "entropy", "approx_kl", "ptx_loss")}
        for _epoch in range(c.epochs):
            order = self.rng.permutation(len(ro.batch))
            for start in range(0, len(order), c.minibatch_size):
                rows = order[start:start + c.minibatch_size]
                sub = ro.batch.select(rows)
                L = sub.max_response_len
                mask = ro.mask[rows, :L]
                # the warm-up fits V from scratch: no old V to stay close to, so no clipping
                v_eps = c.value_clip_eps if train_policy else float("inf")
                v_loss, v_clip = ppo_value_loss(self.value_model.values(sub), ro.old_values[rows, :L],
                                                ro.returns[rows, :L], mask, v_eps)
                loss = c.value_coef * v_loss
                if train_policy:
                    logits = response_logits(self.policy, sub)
                    logprobs = token_logprobs(logits, sub.response_tokens)
                    p_loss, clip_fraction = ppo_policy_loss(logprobs, ro.old_logprobs[rows, :L],
                                                            ro.advantages[rows, :L], mask, c.clip_eps)
                    loss = loss + p_loss
                    if c.ptx_coef > 0:
                        x, y = self.ptx_batches()
                        ptx_loss = self.policy(x, y)[1]
                        loss = loss + c.ptx_coef * ptx_loss
                        stats["ptx_loss"].append(ptx_loss.item())
                self.policy_opt.zero_grad(set_to_none=True)
                self.value_opt.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm_(self.value_params, c.grad_clip)
                self.value_opt.step()
                stats["value_loss"].append(v_loss.item())
                stats["value_clip_fraction"].append(v_clip)
                if train_policy:
                    clip_grad_norm_(self.policy_params, c.grad_clip)
                    self.policy_opt.step()
                    stats["policy_loss"].append(p_loss.item())
                    stats["clip_fraction"].append(clip_fraction)
                    stats["entropy"].append(float(masked_mean(entropy(logits.detach()).numpy(), mask)))
                    stats["approx_kl"].append(float(masked_mean(ro.old_logprobs[rows, :L] - logprobs.numpy(), mask)))
        return {k: float(np.mean(v)) if v else float("nan") for k, v in stats.items()}

    def step(self) -> dict:
        """One PPO iteration: a rollout, the updates, the KL controller; one point of each curve."""
        ro = self.rollout()
        stats = self.update(ro)
        mean_kl = float(ro.kl.sum(1).mean())                 # nats per response
        stats.update(reward=float(ro.scores.mean()), kl=mean_kl, kl_coef=self.kl_ctl.value,
                     labeler=float(np.mean([labeler_score(p, r) for p, r in zip(ro.prompts, ro.responses)])),
                     response_length=float(ro.batch.response_lens.mean()))
        self.kl_ctl.update(mean_kl, len(ro.batch))
        return stats

    def warm_up_value(self) -> list[float]:
        """Fit the value function to the starting policy's returns before the policy moves.

        The reward model was trained on whole responses only; on a prefix its head says
        little, and GAE would turn those errors into advantages (delta_t compares V(s_(t+1))
        with V(s_t)). A few rollouts of value-only updates fix V first."""
        return [self.update(self.rollout(), train_policy=False)["value_loss"]
                for _ in range(self.config.value_warmup)]


def train_ppo(policy, ref, value_model, reward_model, tokenizer, prompt_source, config: PPOConfig,
              seed: int = 0, ptx_batches=None, progress: bool | None = None) -> dict:
    """Run PPOTrainer for config.iterations rollouts (after the value warm-up), or for
    config.seconds if that ends first; returns the
    curves, one entry per rollout (see CURVES): "reward" is the reward model's mean score,
    "labeler" the hidden labeler's (watched, never trained on), "kl" nats per response.
    "value_warmup_loss" holds the warm-up's value losses."""
    trainer = PPOTrainer(policy, ref, value_model, reward_model, tokenizer, prompt_source, config, seed,
                         ptx_batches)
    curves = {name: [] for name in CURVES}
    curves["value_warmup_loss"] = trainer.warm_up_value()
    budget = Budget(config.iterations, config.seconds, desc="ppo",
                    disable=None if progress is None or progress else True)
    while budget.running():
        stats = trainer.step()
        for k in CURVES:
            curves[k].append(stats[k])
        budget.tick(stats["reward"])     # the bar's "loss": the reward model's mean score
    budget.close()
    return curves
