# %% [markdown]
# # Lesson 8 — InstructGPT: SFT, a reward model from comparisons, PPO against it
#
# A language model trained to continue text is not a model that follows instructions. Ask
# GPT-3 "Explain the moon landing to a 6 year old" and it may answer with more questions of
# the same kind, because that is how such text goes on. Ouyang et al. (2022) fix this in
# three steps:
#
# 1. **SFT**: fine-tune on demonstrations (prompt, the answer a person wrote).
# 2. **Reward model**: sample K answers per prompt, let people rank them, and train a model
#    $r_\theta(x, y)$ to score the preferred answer higher.
# 3. **PPO**: optimise the policy against $r_\theta$, with a KL penalty that keeps it close to
#    the SFT model.
#
# This lesson does all three for real, at character level, in minutes on a CPU. The world is
# `models.instructgpt.task`: instructions with checkable answers ("reverse cat" -> "tac").
# The people are `models.instructgpt.labeler`: a hidden scoring rule (correctness first, then
# politeness where asked, then brevity) that ranks answers and that no model ever reads.
# Held-out prompts use words that never occur in any training prompt.
#
# The whole run is `models.instructgpt.pipeline.RLHFRun` (and `minigrad rlhf`); here we
# take its steps one at a time and look at what each one made.

# %%
import sys
from pathlib import Path

if "__file__" in globals():  # run as a script from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from minigrad.report import Lesson
from models.instructgpt import judge
from models.instructgpt.pipeline import RLHFConfig, RLHFRun, plot_curves, summary
from models.instructgpt.sampling import sample_responses

lesson = Lesson("08_instructgpt", "InstructGPT: SFT, a reward model from comparisons, PPO (and DPO)",
                point="Supervised fine-tuning turns a model that dodges into one that answers, and a reward model "
                      "learned from rankings agrees with the hidden labeler on most pairs of new answers.")
SEED = 0
config = lesson.pick(fast=RLHFConfig.fast(), quick=RLHFConfig.quick(), full=RLHFConfig.full())
run = RLHFRun(config, seed=SEED)
task, tok = run.task, run.tokenizer
lesson.say(f"model: {config.n_layer} layers, {config.n_embd} wide, {config.block_size} characters of "
           f"context, {tok.vocab_size} characters in the vocabulary; seed {SEED}"
           + (" (fast mode: every step runs, far too briefly to be good)" if lesson.fast else ""))

# %% [markdown]
# ## 0. The task and the labeler
#
# A prompt is `"Q: <instruction>\nA:"`, a response is `" <answer>\n"`. The labeler scores a
# response from about -1 to 1.25: 1 for the exact answer (plus 0.05, so it is strictly the
# best), 0.75 for the answer buried in other text, half the string similarity for a near
# miss; +0.2 for offering help when greeted; penalties for never ending, trailing junk, extra
# length, repeated words, and content the prompt does not support ("hallucination").

# %%
prompt = "Q: reverse cat\nA:"
candidates = [" tac\n", " the answer is tac\n", " act\n", " tca", " dog\n", " i do not know.\n"]
rows = []
for response in candidates:
    j = judge(prompt, response)
    rows.append({"response": repr(response), "correctness": j.correctness, "penalty": j.penalty,
                 "hallucinated": j.hallucinated, "score": round(j.score, 3)})
lesson.table(rows, "labeler_example", caption=f"the labeler on answers to {prompt!r}")
lesson.say("train words: " + ", ".join(task.words["train"][:12]) + ", ...; held-out words: "
           + ", ".join(task.words["heldout"]))

# %% [markdown]
# ## 1. The base model continues, it does not answer
#
# The pre-training corpus shows instructions only inside question sheets and interviews
# whose "answers" dodge ("A: i do not know."). A GPT trained on it learns the words and the
# format, and answers nothing.

# %%
base = run.pretrain()
lesson.metric("base pre-training loss (last 50 steps)", float(np.mean(run.pretrain_history["loss"][-50:])))
show_prompts = task.prompts("heldout", 6, rng=SEED + 7)


def show(model, name, temperature=0.0):
    responses = sample_responses(model, tok, show_prompts, config.max_new_tokens, temperature)
    return [{"prompt": repr(p), name: repr(r), "score": round(judge(p, r).score, 2)}
            for p, r in zip(show_prompts, responses)]


lesson.table(show(base, "base GPT (greedy)"), "base_samples", caption="the base model on held-out prompts")

# %% [markdown]
# ## 2. Supervised fine-tuning: loss on the response only
#
# Each demonstration is one row `prompt + response`. The targets of the prompt positions are
# set to -1, which the cross-entropy ignores: the model learns to *answer*, not to write
# prompts (`SequenceBatch.lm_targets`).

# %%
sft = run.supervised_fine_tuning()
lesson.metric("SFT loss on held-out demonstrations", run.sft_history["heldout_loss"])
lesson.metric("base model's loss on the same responses", run.sft_history["base_heldout_loss"])
lesson.table(show(sft, "SFT (greedy)"), "sft_samples", caption="the SFT model on the same prompts")

# %% [markdown]
# ## 3. The reward model, from rankings
#
# For each training prompt the SFT model writes K responses (at a few temperatures, for a
# spread of quality); the labeler ranks them. The reward model is the SFT trunk with a scalar
# head on the last token, trained on every pair of a prompt at once:
#
# $$\text{loss}(\theta) = -\frac{1}{\binom{K}{2}} E_{(x, y_w, y_l)}\left[\log \sigma(r_\theta(x, y_w) - r_\theta(x, y_l))\right]$$
#
# Afterwards its head is shifted so that demonstrations score 0 on average (the paper's
# normalisation) and scaled so that the compared SFT samples have a spread of 1 (so that the
# KL coefficient below means the same in every run). The paper's reward model agrees with its
# training labelers 72.4% of the time and with held-out labelers 69.6%.

# %%
rm = run.reward_modelling()
c = max(run.comparisons[:50], key=lambda c: len(set(c.responses)))   # one whose answers differ, to rank something
lesson.table([{"rank": i + 1, "response": repr(c.responses[k]), "labeler score": round(c.scores[k], 3),
               "reward model": round(float(r), 3)}
              for i, (k, r) in enumerate(zip(c.order, rm.score(tok, [c.prompt] * len(c.responses),
                                                               [c.responses[k] for k in c.order])))],
             "comparison_example", caption=f"one comparison: K={config.k} answers to {c.prompt!r}, best first")
h = run.reward_history
lesson.metric("comparisons (prompts)", len(run.comparisons))
lesson.metric("comparison pairs", sum(len(c.pairs) for c in run.comparisons))
lesson.metric("reward model accuracy, training comparisons", h["train_accuracy"])
lesson.metric("reward model accuracy, new prompts (train words)", h["validation_accuracy"])
lesson.metric("reward model accuracy, held-out prompts", h["heldout_accuracy"])

# %% [markdown]
# ## 4. PPO against the reward model
#
# Per token $t$ of a sampled response the reward is $-\beta \log\frac{\pi(y_t)}{\pi_{SFT}(y_t)}$,
# plus $r_\theta(x, y)$ at the last token. A value function (initialised from the reward model
# and first fitted to the SFT policy's returns) gives GAE advantages ($\gamma = 1$,
# $\lambda = 0.95$), whitened per rollout; the policy minimises the clipped surrogate
# $-\min(\rho_t A_t, \text{clip}(\rho_t, 1 \pm \epsilon) A_t)$ over a few epochs of minibatches,
# the value function a clipped squared error. $\beta$ follows Ziegler et al.'s adaptive
# controller toward a target KL.
#
# The hidden labeler's score of the rollouts is recorded too, but never trained on: it tells
# us whether what the reward model likes is what the labeler likes. The full run (`--full`)
# also trains a second policy with a loose, fixed $\beta$ (dashed in the figure), which moves
# further from SFT for the same reward model; the default run skips it, and labels 600 prompts
# for the reward model instead of 1000. Where a policy climbs the reward model and the labeler
# does not follow, it is exploiting the reward model's mistakes (Gao et al. 2022 measure this
# over-optimisation at scale).
#
# One choice here is not in the paper: the value function is fitted alone for a couple of
# rollouts before the policy moves. The reward model's head was trained on whole responses
# only and says little about a prefix; GAE turns those errors into advantages, and without the
# warm-up PPO wrecked the SFT policy within a few rollouts, even with the true labeler as the
# reward.

# %%
policy = run.ppo()
curves = run.ppo_curves
loose = getattr(run, "ppo_loose_curves", None)
lesson.say(f"PPO settings: {config.ppo}")
lesson.figure(plot_curves(curves, loose), "ppo_curves", caption="PPO, one point per rollout (dashed: loose KL)")
lesson.metric("PPO final KL from SFT (nats per response, rollouts)", curves["kl"][-1])
lesson.metric("PPO final beta", curves["kl_coef"][-1])
if loose:
    lesson.metric("PPO loose-KL final KL from SFT (nats per response, rollouts)", loose["kl"][-1])

# %% [markdown]
# ## 5. DPO on the same comparisons
#
# Rafailov et al. (2023): the optimum of the KL-regularised objective is
# $\pi^*(y|x) \propto \pi_{SFT}(y|x)\, e^{r(x, y)/\beta}$, so a policy *is* a reward model,
# $r = \beta \log\frac{\pi(y|x)}{\pi_{SFT}(y|x)} + \text{const}$. Putting that into the reward
# model's loss gives a loss on the policy alone, with no sampling and no reward model.

# %%
dpo = run.dpo()
lesson.metric("DPO pair accuracy (last batches)", float(np.mean(run.dpo_history["accuracy"][-10:])))

# %% [markdown]
# ## 6. The table
#
# Every model answers the same held-out prompts, one sample each at temperature 1 (the
# distribution PPO optimises, and the one the KL is measured on); the labeler judges. Win rate
# is against an independent SFT sample for the same prompt, ties counting one half. For
# reference, the paper finds InstructGPT 175B preferred to GPT-3 85 ± 3% of the time and
# hallucination falling from 41% to 21%.

# %%
rows = run.evaluate()
lesson.table(rows, "rlhf_table_heldout", caption=f"{config.eval_prompts} held-out prompts, seed {SEED}")
lesson.table(run.train_rows, "rlhf_table_train_words",
             caption=f"{config.eval_prompts} fresh prompts over training words, seed {SEED}")
by_model = {r["model"]: r for r in rows}
for name in by_model:
    lesson.metric(f"{name} labeler score (held-out)", by_model[name]["labeler score"])
    lesson.metric(f"{name} RM score (held-out)", by_model[name]["RM score"])
lesson.metric("PPO win rate vs SFT (held-out)", by_model["PPO"]["win rate vs SFT"])
lesson.metric("PPO KL from SFT (held-out)", by_model["PPO"]["KL from SFT"])

examples = []
for i, p in enumerate(run.eval_prompts[:8]):
    row = {"prompt": repr(p)}
    for name in ("SFT", "PPO", "DPO"):
        row[name] = repr(run.samples[name]["sampled"][i])
    examples.append(row)
lesson.table(examples, "samples_side_by_side", caption="sampled answers to held-out prompts")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
names = [r["model"] for r in rows]
x = np.arange(len(names))
ax.bar(x - 0.2, [r["labeler score"] for r in rows], 0.4, label="labeler score (sampled)")
ax.bar(x + 0.2, [r["greedy score"] for r in rows], 0.4, label="labeler score (greedy)")
ax.set_xticks(x, names)
ax.set_title("held-out prompts")
ax.legend()
ax.grid(alpha=0.3, axis="y")
lesson.figure(fig, "labeler_scores", caption="The hidden labeler's mean score per model on held-out prompts "
              "(the step from the base model to SFT is the paper's largest).", key=True)
lesson.table([{"step": name, "seconds": seconds} for name, seconds in summary(run)["timings_s"].items()], "timings",
             caption="Wall-clock seconds of each step of the run")
for name, step, updates in (("base pre-training", "pretrain", config.pretrain.steps), ("SFT", "sft", config.sft.steps),
                            ("PPO (rollouts)", "ppo", config.ppo.iterations)):
    lesson.trained(name, updates, run.timings[step])
base_score, sft_score = by_model["base"]["labeler score"], by_model["SFT"]["labeler score"]
lesson.point_shown(sft_score > base_score and h["validation_accuracy"] > 0.5,
                   f"labeler score on held-out prompts: base {base_score:.2f}, SFT {sft_score:.2f}; the reward model "
                   f"orders {h['validation_accuracy']:.0%} of pairs of new answers as the labeler does")

# %% [markdown]
# ## What to look for
#
# - **base -> SFT**: the largest step by far. The base model dodges ("i do not know."),
#   invents content almost every time, and is many nats away from SFT.
# - **the reward model** agrees with the labeler on about four pairs in five on new prompts
#   over training words, and less often on held-out words (the paper: 72.4% / 69.6%).
# - **SFT -> PPO**: the reward model's score rises; whether the labeler's does is the paper's
#   claim to test. With a two-layer model that memorised its training words and a reward
#   model that is wrong on one pair in five, PPO with a bounded KL stays within noise of SFT
#   on the labeler: the gains of the paper need a reward model that is right where the
#   policy goes, and a policy that generalises what it is rewarded for.
# - **held-out words** are hard for every fine-tuned model: copying a word never seen in a
#   prompt is a skill the small SFT model did not learn, and no step after SFT teaches it.
# - **DPO** needs no sampling and no reward model; compare its KL from SFT with PPO's.
#
# Everything here is one seed and a few hundred prompts: a mean score over 200 prompts has a
# standard error of about 0.03, so differences of a few hundredths are noise.

# %%
lesson.finish()
