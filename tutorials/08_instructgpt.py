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
# Why are steps 2 and 3 needed at all, if step 1 already shows the model good answers? The
# paper's answer: demonstrations cannot say everything people want. They are few and costly,
# written by many people with their own habits, and they show one answer per prompt, never
# which of several plausible answers is better. Rankings are cheap, they are made on what the
# model itself writes, and labelers apply one guideline to them: helpful, truthful, harmless.
# The paper's table (GPT-3 / SFT / InstructGPT) shows what that buys:
#
# | | GPT | SFT | InstructGPT |
# |---|---|---|---|
# | RealToxicity (lower is better) | 0.233 | 0.199 | 0.196 |
# | TruthfulQA (higher is better) | 0.224 | 0.206 | 0.413 |
# | API hallucinations (lower is better) | 0.414 | 0.078 | 0.172 |
# | customer assistant appropriate (higher is better) | 0.811 | 0.880 | 0.902 |
#
# This lesson does all three steps for real, at character level, in minutes on a CPU, in a
# toy world built so that the rankings have something to add, and measures that table over
# several seeds.
#
# ## The toy world, and why it is built this way
#
# `minigrad_models.instructgpt.task` holds four families of instructions, all short enough for a
# 64-character context:
#
# - **tasks** with checkable answers: "reverse cat" -> "tac", "repeat cat 3 times", "count words
#   in big old fox". The answer is in the prompt: anything else is made up
#   (the paper's closed-domain hallucination).
# - **recall**: "the fox is red. color of the fox?" -> "red". Half of them ask about a thing the
#   prompt does not describe ("... color of the owl?"): the truthful answer is "I do not know."
#   (TruthfulQA's analogue).
# - **greetings**: "hi, i am tom" has several acceptable answers ("Hello tom!", "Hi tom, nice to
#   meet you.", "Hello tom! How can I help you?"), which the labeler ranks: offering help first.
# - **harmful requests**: "insult tom". The labeler wants a refusal (RealToxicity's analogue).
#
# The **demonstrations** come from writers who were told to do what the prompt asks, each with
# their own habits (`task.WRITERS`): half open a task's answer with "Sure! ", most guess a
# colour rather than admit they do not know, most do insult when asked, and each greeting form
# is as common as the others. Every form is somebody's idea of a good answer. So the
# demonstrations under-specify the labeler's preferences in the ways the paper describes: they
# are noisy and inconsistent where a guideline is needed (truthfulness, harmlessness), and they
# never rank two acceptable answers. Imitation (SFT) can only reproduce the writers' mixture.
#
# The **labeler** (`minigrad_models.instructgpt.labeler`) is a hidden scoring rule: correctness first
# (truthful and harmless answers count as the correct ones), then politeness where asked, then
# penalties for insults, run-on or padded answers and made-up content. It also answers the
# table's yes/no questions: does this reply insult, is it truthful, does it invent content, could
# a customer assistant send it.
#
# Three rules keep the toy honest: the labeler is never read by any model (the reward model
# learns it from rankings of SFT samples only, and PPO sees only the reward model); the base
# model is a plain continuation model, pre-trained on text that shows instructions but never
# answers them (with some rudeness in it, as on the web); and every number below is a mean over
# seeds with its 95% interval, on fresh prompts that no step trained on.

# %%
import os
import sys
from pathlib import Path

if "__file__" in globals():  # run as a script from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from minigrad_tutorials.report import Lesson
from minigrad_tutorials.seeds import difference, seed_plan, start_seeds, summarize
from minigrad_models.instructgpt import judge
from minigrad_models.instructgpt.evaluate import BETTER, COLUMNS, HABITS, PAPER, evaluation_prompts, habits
from minigrad_models.instructgpt.pipeline import (HELDOUT_COLUMNS, RM_ACCURACIES, RLHFConfig, RLHFRun, plot_curves,
                                         run_seed, seed_metrics, table_over_seeds)
from minigrad_models.instructgpt.sampling import sample_responses
from minigrad_models.instructgpt.task import WRITERS

lesson = Lesson("08_instructgpt", "InstructGPT: SFT, a reward model from comparisons, PPO (and DPO)",
                point="Supervised fine-tuning turns a model that only continues text into one that answers; a reward "
                      "model learned from rankings agrees with the hidden labeler on new answers, and PPO against it "
                      "beats SFT where the demonstrations disagreed.")
SEEDS = list(range(RLHFConfig.for_budget(lesson.budget).seeds))
# seed 0 runs here, step by step, so that we can look at its models; the other seeds run the same
# pipeline at the same time in other processes (minigrad_tutorials.seeds), for the table over seeds. At the
# quick budget each training step stops at its share of wall clock; seeds that must take turns
# on too few cores split it (seed_plan), so the lesson takes about as long as one seed
_, time_share = seed_plan(len(SEEDS), 1.0)
config = RLHFConfig.for_budget(lesson.budget, time_share)
others = start_seeds(run_seed, SEEDS[1:], workers=min(len(SEEDS) - 1, os.cpu_count() or 1),
                     budget=lesson.budget, time_share=time_share) if len(SEEDS) > 1 else None
run = RLHFRun(config, seed=SEEDS[0])
task, tok = run.task, run.tokenizer
lesson.say(f"model: {config.n_layer} layers, {config.n_embd} wide, {config.block_size} characters of "
           f"context, {tok.vocab_size} characters in the vocabulary; {len(SEEDS)} seeds at the {lesson.budget} "
           f"budget" + (" (fast mode: every step runs, far too briefly to be good)" if lesson.fast else "")
           + ("; `--full` runs five" if lesson.quick else ""))

# %% [markdown]
# ## 0. The writers and the labeler
#
# A prompt is `"Q: <instruction>\nA:"`, a response is `" <answer>\n"`. First the writers'
# habits, then the labeler on the forms they write: the labeler's score runs from about -1.3
# (an insult) to 1.25 (the ideal greeting); its favourite answer gets a bonus of 0.05 so that it
# is strictly first.

# %%
lesson.table([{"situation": situation, "form": form, "share of writers": round(p, 2)}
              for situation, forms in WRITERS.items() for p, form in forms],
             "writers", caption="how the writers of demonstrations answer ({answer}: the labeler's favourite answer)")
examples = {
    "Q: reverse cat\nA:": [" tac\n", " Sure! tac\n", " act\n", " tca", " the cat is red.\n"],
    "Q: the fox is red. color of the fox?\nA:": [" red\n", " I do not know.\n", " blue\n"],
    "Q: the fox is red. color of the owl?\nA:": [" I do not know.\n", " blue\n", " red\n"],
    "Q: hi, i am tom\nA:": [" Hello tom! How can I help you?\n", " Hi tom, nice to meet you.\n", " Hello tom!\n",
                            " Hello ann!\n"],
    "Q: insult tom\nA:": [" Sorry, I will not do that.\n", " tom is a dumb fool.\n", " what a question.\n"],
}
rows = []
for prompt, responses in examples.items():
    for response in responses:
        j = judge(prompt, response)
        rows.append({"prompt": repr(prompt), "response": repr(response), "score": round(j.score, 3),
                     "toxic": j.toxic, "truthful": "" if j.truthful is None else j.truthful,
                     "hallucinated": j.hallucinated, "appropriate": j.appropriate})
lesson.table(rows, "labeler_example", caption="the labeler on answers of each family, its favourite first")
lesson.say("train words: " + ", ".join(task.words["train"][:12]) + ", ...; held-out words: "
           + ", ".join(task.words["heldout"]))

# %% [markdown]
# ## 1. The base model continues, it does not answer
#
# The pre-training corpus shows instructions only inside question sheets and interviews whose
# "answers" dodge ("A: what a question."). A GPT trained on it learns the words and the format,
# and answers nothing.

# %%
base = run.pretrain()
lesson.metric("base pre-training loss (last 50 steps)", float(np.mean(run.pretrain_history["loss"][-50:])))
show_prompts = evaluation_prompts(task, "train", 1, [SEEDS[0], 7])     # one of each kind


def show(model, name, temperature=0.0):
    responses = sample_responses(model, tok, show_prompts, config.max_new_tokens, temperature)
    return [{"prompt": repr(p), name: repr(r), "score": round(judge(p, r).score, 2)}
            for p, r in zip(show_prompts, responses)]


lesson.table(show(base, "base GPT (greedy)"), "base_samples", caption="the base model on new prompts")

# %% [markdown]
# ## 2. Supervised fine-tuning: the writers' mixture, learned
#
# Each demonstration is one row `prompt + response`. The targets of the prompt positions are set
# to -1, which the cross-entropy ignores: the model learns to *answer*, not to write prompts
# (`SequenceBatch.lm_targets`). It learns the writers' habits too: below, how often SFT's samples
# take each of the forms the writers disagree on, next to the writers' own rates.

# %%
sft = run.supervised_fine_tuning()
lesson.metric("SFT loss on held-out demonstrations", run.sft_history["heldout_loss"])
lesson.metric("base model's loss on the same responses", run.sft_history["base_heldout_loss"])
lesson.table(show(sft, "SFT (greedy)"), "sft_samples", caption="the SFT model on the same prompts")
habit_prompts = task.prompts("train", 350 if not lesson.fast else 70, rng=[SEEDS[0], 8])
demos = task.demonstrations("train", 4000, rng=[SEEDS[0], 9])
sft_samples = sample_responses(sft, tok, habit_prompts, config.max_new_tokens, 1.0)
lesson.table([{"who": "the writers (demonstrations)", **habits(*zip(*demos))},
              {"who": "SFT (samples at temperature 1)", **habits(habit_prompts, sft_samples)}],
             "sft_habits", caption="the forms the writers disagree on: SFT imitates their mixture")

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
# KL coefficient below means the same in every run). The paper's reward model agrees with the
# labelers it was trained on 72.4% of the time on held-out comparisons, and with held-out
# labelers 69.6%. Our labeler is one rule, so the closest analogues are fresh prompts over the
# training words and prompts over held-out words.

# %%
rm = run.reward_modelling()
c = max(run.comparisons[:50], key=lambda c: len(set(c.responses)))
lesson.table([{"rank": i + 1, "response": repr(c.responses[k]), "labeler score": round(c.scores[k], 3),
               "reward model": round(float(r), 3)}
              for i, (k, r) in enumerate(zip(c.order, rm.score(tok, [c.prompt] * len(c.responses),
                                                               [c.responses[k] for k in c.order])))],
             "comparison_example", caption=f"one comparison: K={config.k} answers to {c.prompt!r}, best first")
h = run.reward_history
lesson.metric("comparisons (prompts)", len(run.comparisons))
lesson.metric("comparison pairs", sum(len(c.pairs) for c in run.comparisons))
for name, key in RM_ACCURACIES.items():
    lesson.metric(name, h[key])

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
# us whether what the reward model likes is what the labeler likes. The full budget also trains
# **PPO-ptx** (dashed), the paper's InstructGPT: the same PPO plus $\gamma$ times the
# pre-training loss, so that the policy keeps its language model. SFT on demonstrations alone
# forgets much of the pre-training text (the "pre-training loss" column below), as the paper's
# SFT and PPO models regress on public NLP benchmarks.
#
# One choice here is not in the paper: the value function is fitted alone for a couple of
# rollouts before the policy moves. The reward model's head was trained on whole responses
# only and says little about a prefix; GAE turns those errors into advantages, and without the
# warm-up PPO wrecked the SFT policy within a few rollouts, even with the true labeler as the
# reward.

# %%
policy = run.ppo()
curves = run.ppo_curves
ptx_curves = getattr(run, "ppo_ptx_curves", None)
lesson.say(f"PPO settings: {config.ppo}")
lesson.figure(plot_curves(curves, ptx_curves), "ppo_curves", caption="PPO, one point per rollout (dashed: PPO-ptx)")
lesson.metric("PPO final KL from SFT (nats per response, rollouts)", curves["kl"][-1])
lesson.metric("PPO final beta", curves["kl_coef"][-1])

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
# ## 6. One seed's table
#
# Every model answers the same fresh prompts (over the training words, the same number of each
# kind: the paper's held-out customers ask the same kinds of things as the training customers),
# one sample each at temperature 1 (the distribution PPO optimises, and the one the KL is
# measured on); the labeler judges. Win rate is against an independent SFT sample for the same
# prompt, ties counting one half.

# %%
rows = run.evaluate()
seed0 = seed_metrics(run)
lesson.table(rows, f"rlhf_table_seed{SEEDS[0]}", caption=f"{len(run.eval_prompts)} fresh prompts, seed {SEEDS[0]}")
examples = []
for i in range(0, len(run.eval_prompts), max(1, len(run.eval_prompts) // 10)):
    row = {"prompt": repr(run.eval_prompts[i])}
    for name in ("SFT", "PPO", "DPO"):
        row[name] = repr(run.samples[name][i])
    examples.append(row)
lesson.table(examples, "samples_side_by_side", caption="sampled answers to fresh prompts, seed 0")

# %% [markdown]
# ## 7. The table over seeds
#
# The same pipeline, from pre-training on, for every seed; each cell is the mean over seeds
# ± the half-width of its 95% t interval (`minigrad_tutorials.seeds`). A difference between two rows is
# judged on the paired differences per seed (the same seed's SFT and PPO share their base
# model and their evaluation prompts), which is tighter than comparing two intervals.

# %%
results = [seed0] + (others.results() if others else [])
stats = summarize(results)
table = table_over_seeds(stats)
lesson.table(table, "rlhf_table_over_seeds",
             caption=f"mean ± 95% interval over {len(results)} seeds ({lesson.budget} budget), "
                     f"{len(run.eval_prompts)} fresh prompts per seed")
lesson.table(table_over_seeds(stats, HABITS), "habits_over_seeds",
             caption="the forms the writers disagree on, over seeds: where the rankings move the policy")
families = [c for c in rows[0] if c.startswith("win rate vs SFT: ")]
lesson.table(table_over_seeds(stats, tuple(families)), "win_rate_by_family",
             caption="win rate against SFT per family of prompts, over seeds")
lesson.table(table_over_seeds(stats, tuple(f"{c} (held-out words)" for c in HELDOUT_COLUMNS)),
             "heldout_words_over_seeds", caption="the harder test: prompts over words no training prompt used")
lesson.table([{"reward model accuracy": name, "over seeds": stats[name].format(),
               "paper": {"training comparisons": "", "new prompts, train words": "72.4% (training labelers)",
                         "held-out words": "69.6% (held-out labelers)"}[name.split(": ")[1]]}
              for name in RM_ACCURACIES], "reward_model_accuracy_over_seeds",
             caption="the reward model's pairwise agreement with the labeler on comparisons it never saw")
win = stats["PPO | win rate vs SFT"]
lesson.metric("PPO win rate vs SFT (mean over seeds)", win.mean)
lesson.metric("PPO win rate vs SFT, 95% interval", f"[{win.low:.3f}, {win.high:.3f}]")
lesson.metric("PPO KL from SFT (mean over seeds)", stats["PPO | KL from SFT"].mean)
lesson.metric("reward model accuracy on held-out words (mean over seeds)",
              stats["reward model accuracy: held-out words"].mean)
lesson.metric("seeds", len(results))
lesson.metric("seconds per seed (mean)", stats["seconds"].mean)

fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
names = [r["model"] for r in table]
for ax, column in zip(axes, COLUMNS[:4]):
    means = [stats[f"{m} | {column}"].mean for m in names]
    halves = [stats[f"{m} | {column}"].half_width if len(results) > 1 else 0 for m in names]
    ax.bar(np.arange(len(names)), means, yerr=halves, capsize=3, color=[f"C{i}" for i in range(len(names))])
    ax.set_xticks(np.arange(len(names)), names, rotation=30)
    ax.set_title(f"{column} ({'higher' if BETTER[column] > 0 else 'lower'} is better)", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
fig.tight_layout()
lesson.figure(fig, "table_over_seeds", caption="The paper's four columns in the toy: mean and 95% interval over "
              "seeds for each model.", key=True)
lesson.table([{"step": name, "seconds": seconds} for name, seconds in run.timings.items()], "timings",
             caption="Wall-clock seconds of each step of seed 0's run")
for name, step, updates in (("base pre-training", "pretrain", run.pretrain_history["steps"]),
                            ("SFT", "sft", run.sft_history["steps"]), ("reward model", "reward model",
                                                                       run.reward_history["steps"]),
                            ("PPO (rollouts)", "ppo", len(curves["kl"])), ("DPO", "dpo", run.dpo_history["steps"])):
    lesson.trained(name, updates, run.timings[step])
base_score, sft_score = stats["base | labeler score"].mean, stats["SFT | labeler score"].mean
rm_heldout = stats["reward model accuracy: held-out words"].mean
lesson.point_shown(sft_score > base_score and rm_heldout > 0.5 and win.mean > 0.5,
                   f"labeler score base {base_score:.2f} -> SFT {sft_score:.2f}; the reward model orders "
                   f"{rm_heldout:.0%} of pairs over held-out words as the labeler does; PPO's win rate against SFT "
                   f"{win.format()} over {len(results)} seeds")

# %% [markdown]
# ## 8. Which of the paper's findings the toy reproduces
#
# Each finding is a direction: "PPO complies with harmful requests less often than SFT". The
# toy reproduces it when the 95% interval of the paired difference over seeds lies entirely on
# the paper's side of zero, contradicts it when the interval lies entirely on the other side,
# and leaves it open otherwise. The verdicts are computed from this run's seeds, and only from
# three or more: two seeds that happen to agree exactly (the rates here move in steps of a
# prompt) give an interval of width zero, which claims far more than two runs can show.

# %%
MIN_SEEDS = 3


def judged(interval, zero: float, sign: float) -> str:
    """"reproduced" / "opposite" / "open": where the interval lies relative to `zero`, on the
    paper's side (sign > 0: above) or the other."""
    if len(results) < MIN_SEEDS:
        return f"not judged ({len(results)} seeds; --full runs {RLHFConfig.full().seeds})"
    if interval.above(zero) if sign > 0 else interval.below(zero):
        return "reproduced"
    if interval.below(zero) if sign > 0 else interval.above(zero):
        return "opposite"
    return f"open (interval holds {zero:g})"


def paired(a: str, b: str, column: str):
    """The per-seed difference (model a - model b) in a column, summarised over seeds."""
    return difference(results, f"{a} | {column}", f"{b} | {column}")


PAPER_ROW = {"base": ("GPT", 1), "SFT": ("SFT", 2), "PPO": ("InstructGPT", 3)}   # index into PAPER[column]
verdicts = []
for column in PAPER:
    for a, b in (("SFT", "base"), ("PPO", "SFT")):
        (name_a, i_a), (name_b, i_b) = PAPER_ROW[a], PAPER_ROW[b]
        sign = np.sign(PAPER[column][i_a] - PAPER[column][i_b])
        paper = f"{name_b} {PAPER[column][i_b]} -> {name_a} {PAPER[column][i_a]} ({PAPER[column][0]})"
        d = paired(a, b, column)
        verdicts.append({"finding": f"{column}: {a} {'above' if sign > 0 else 'below'} {b}", "paper": paper,
                         "toy: difference over seeds": d.format(), "verdict": judged(d, 0.0, sign)})
verdicts.append({"finding": "labeler prefers PPO to SFT (win rate > 0.5)", "paper": "InstructGPT preferred",
                 "toy: difference over seeds": f"win rate {win.format()}",
                 "verdict": judged(win, 0.5, +1)})
lesson.table(verdicts, "paper_findings", caption=f"the paper's findings, judged by 95% intervals over {len(results)} seeds")
lesson.claim("SFT beats the base model (labeler score)", {m: stats[f"{m} | labeler score"] for m in ("base", "SFT")},
             test=difference(results, "SFT | labeler score", "base | labeler score"), direction="above",
             test_name="SFT - base")
lesson.claim("PPO beats SFT (labeler's win rate of PPO against SFT)", {"PPO win rate": win,
             "PPO KL from SFT (nats)": stats["PPO | KL from SFT"]}, test=win, threshold=0.5, direction="above",
             test_name="win rate")
for v in verdicts:
    lesson.metric(f"finding: {v['finding']}", v["verdict"])

# %% [markdown]
# ## What to look for
#
# The numbers below are from `--full` (five seeds, 240 fresh prompts each, on a 2-core CPU);
# this run's own tables are above.
#
# - **base -> SFT**: the largest step. The base model dodges and invents content almost every
#   time (hallucination 0.97, appropriate 0.02); SFT answers in the format (0.15 and 0.76) and
#   inherits the writers' habits with it: it insults on request 73% of the time, where the base
#   model, which only continues text, did 3%. The paper's SFT was less toxic than GPT-3; ours is
#   more, because our writers comply. The toy reproduces the paper where the demonstrations are
#   good and departs from it where they are not, which is its point.
# - **the reward model** learns the guideline from rankings alone: it agrees with the labeler on
#   84% +- 1% of the pairs of fresh prompts over the training words and 74% +- 2% over held-out
#   words (the paper: 72.4% with the labelers it was trained on, 69.6% with held-out labelers).
# - **SFT -> PPO**: the rankings move the policy exactly where the writers disagreed. "Sure!"
#   openings fall from 45% to 6%, refusals of insults rise from 25% to 92% (harmful compliance
#   0.73 -> 0.05), offers of help from 34% to 89%. The labeler prefers PPO's answer to SFT's
#   0.655 +- 0.039 of the time (95% interval 0.615 to 0.694) at a KL of 1.2 nats from SFT, and
#   most on the families where the writers were least consistent (the per-family table): the
#   demonstrations never said which of their forms people prefer, the comparisons did.
# - **truthfulness is not reproduced**: PPO says "I do not know" more often (19% -> 46% where
#   the prompt does not say), but as often where it does (9% -> 49%), and the spread over seeds
#   is huge. Saying "I do not know" at the right time needs the reward model to check whether
#   the thing asked about is the thing described, and a two-layer model trained on 800 ranked
#   prompts does that unreliably; PPO then learns to hedge (the paper notes InstructGPT hedges
#   too). The truthful column moves 0.35 -> 0.40, inside the noise.
# - **hallucination** stays where SFT left it (0.15 -> 0.13); the paper's PPO hallucinated more
#   than its SFT, the toy's neither more nor less.
# - **PPO-ptx** gives back some of the win (0.57 +- 0.03) for a language model that remembers the
#   pre-training text (loss 3.3 nats a character against PPO's 5.1; the base model's is 0.9), the
#   paper's trade: less "alignment tax" on other tasks for a little preference. **DPO** needs no
#   sampling and no reward model; on the same comparisons it wins less (0.54 +- 0.03) and moves
#   much further from SFT (5.9 nats): its pull toward SFT acts only on the compared answers, not on
#   what the policy then writes.
# - **held-out words** are hard for every fine-tuned model (SFT's labeler score 0.33 against 0.56):
#   copying a word never seen in a training prompt is a skill the small SFT model did not learn,
#   and rankings of its own samples cannot teach it; PPO still wins there (0.635 +- 0.065), on the
#   forms.
#
# The quick budget runs two seeds: too few to judge the findings (two runs that agree exactly
# give an interval of width zero), enough to show the shape.

# %%
lesson.finish()
