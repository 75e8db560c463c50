"""InstructGPT end to end: pre-train, SFT, reward model, PPO (and PPO-ptx, DPO), then the table.

    from minigrad_models.instructgpt.pipeline import run
    result = run("out/rlhf", fast=False, seed=0)      # what `minigrad rlhf` calls
    result["table"]       # rows for base, SFT, PPO, PPO-ptx, DPO on fresh prompts

writes into out_dir:
    rlhf_table.md / rlhf_table.json   the table (fresh prompts; held-out words) and the run's other numbers
    rlhf_curves.png                   PPO's curves: reward, KL, value loss, clip fraction, entropy

A claim about the table is a claim over seeds: `run_seed(seed, budget)` runs one seed and
returns its numbers as a flat dict, which `minigrad_tutorials.seeds` runs over several seeds (in
parallel processes) and summarises as mean, standard error and 95% interval; lesson 8 shows
that table. Each budget (`RLHFConfig.fast/quick/full`) names how many seeds it uses.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.data import get_batch
from minigrad_models.gpt import GPT, GPTConfig

from .base import PretrainConfig, make_tokenizer, pretrain_base
from .dpo import DPOConfig, train_dpo
from .evaluate import COLUMNS, evaluate_models, evaluation_prompts
from .ppo import PPOConfig, train_ppo
from .reward import (RewardConfig, RewardModel, collect_comparisons, normalize_to_demonstrations,
                     pairwise_accuracy, train_reward_model)
from .sft import SFTConfig, sft_eval_loss, train_sft
from .task import InstructionTask

MODELS = ("base", "SFT", "PPO", "PPO-ptx", "DPO")     # the table's rows, in order
# the quick budget's wall-clock seconds for each training step of one seed (at most the quick step
# counts). On an idle 2-core machine a seed took 107 s in all, so these never bind there; at a load
# of 8-11 the fixed counts took pretrain 157 s, SFT 347, reward model 46, PPO 34, DPO 20 (and the
# unbudgeted comparisons and evaluation, fixed prompt counts, 26 + 16), and the lesson 1141 s.
QUICK_SECONDS = {"pretrain": 40.0, "sft": 80.0, "reward model": 15.0, "ppo": 30.0, "dpo": 10.0}


@dataclass
class RLHFConfig:
    """Every size and setting of a run. The defaults are the full run (see `full`)."""
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 64           # a prompt and its answer fit in 64 characters
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(steps=600))
    # 1500 steps: at 600 the model answers in the format but copies nothing (a colour, a word)
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(steps=1500))
    n_demonstrations: int = 20_000
    rm_prompts: int = 800          # train prompts labelled for the reward model
    rm_eval_prompts: int = 150     # fresh prompts of each split, labelled to measure its accuracy
    k: int = 9                     # responses ranked per prompt (the paper: 4 to 9): C(9, 2) = 36 pairs
    rm_temperatures: tuple = (0.7, 1.0, 1.5)   # the K samples' temperatures, in turn
    # two epochs: unlike the paper's 6B model, ours still gains on new prompts in the second
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(epochs=2.0))
    ppo: PPOConfig = field(default_factory=PPOConfig)
    # PPO-ptx: the same PPO plus gamma times the pre-training loss (None: skip it). SFT forgets the
    # pre-training text (its loss there goes from about 0.9 to 5 nats a character), so that loss's
    # gradient is large: gamma = 1 dragged the policy back toward the base model (12 nats from SFT,
    # labeler score 0.20 against SFT's 0.56, five seeds). On one seed gamma = 0.03 / 0.1 / 0.3 took
    # the pre-training loss from 4.7 to 3.9 / 3.4 / 3.0 for a labeler score of 0.77 / 0.74 / 0.67
    # (plain PPO 0.73).
    ppo_ptx: PPOConfig | None = field(default_factory=lambda: PPOConfig(ptx_coef=0.1))
    # beta 0.3: at 0.1 DPO wandered 1.4 to 5 nats from SFT in a tenth of an epoch and lost to it on
    # some seeds; at 0.3 it stays near (0.4 to 0.7 nats after a tenth, 4 after 0.3 epochs, two seeds)
    dpo: DPOConfig = field(default_factory=lambda: DPOConfig(epochs=0.3, batch_size=32, beta=0.3))
    eval_per_kind: int = 40        # held-out prompts of each kind in the table
    max_new_tokens: int = 40
    seeds: int = 5                 # seeds of the table over seeds at this budget

    @classmethod
    def full(cls) -> "RLHFConfig":
        """Five seeds with PPO-ptx: lesson 8 `--full` took 15 minutes on a shared 2-core machine (one
        seed in the lesson's process, the others two at a time beside it; about 8 minutes a seed)."""
        return cls()

    @classmethod
    def quick(cls, time_share: float = 1.0) -> "RLHFConfig":
        """Lesson 8's default: two seeds, fewer comparisons, PPO iterations, DPO steps and evaluation
        prompts, no PPO-ptx, and each training step stops at its share of wall clock (QUICK_SECONDS,
        times `time_share` where seeds take turns on one core) if its steps take longer: a busy
        machine trains fewer steps, not longer. With fixed steps the lesson took 1 min 52 s on an
        idle 2-core machine (its two seeds side by side, 107 s each) and 219 s at a load of 4-8."""
        t = {step: seconds * time_share for step, seconds in QUICK_SECONDS.items()}
        return cls(pretrain=PretrainConfig(steps=600, seconds=t["pretrain"]),
                   sft=SFTConfig(steps=1500, seconds=t["sft"]),
                   reward=RewardConfig(epochs=2.0, seconds=t["reward model"]),
                   rm_prompts=600, rm_eval_prompts=100, ppo=PPOConfig(iterations=16, seconds=t["ppo"]),
                   ppo_ptx=None, dpo=DPOConfig(epochs=0.1, batch_size=32, beta=0.3, seconds=t["dpo"]),
                   eval_per_kind=30, seeds=2)

    @classmethod
    def fast(cls) -> "RLHFConfig":
        """Every step for real, in seconds: a small model trained briefly (it answers badly)."""
        return cls(
            n_layer=2, n_head=2, n_embd=32,
            pretrain=PretrainConfig(steps=80, batch_size=16, n_chars=50_000),
            sft=SFTConfig(steps=100, batch_size=16),
            n_demonstrations=2000, rm_prompts=48, rm_eval_prompts=16, k=4,
            reward=RewardConfig(epochs=1.0, prompts_per_batch=4),
            ppo=PPOConfig(iterations=5, rollout_size=32, minibatch_size=16, epochs=2, value_warmup=1,
                          learning_rate=3e-4, adaptive_kl=False, kl_coef=0.05),
            ppo_ptx=None,
            dpo=DPOConfig(epochs=0.25, batch_size=16),
            eval_per_kind=5, max_new_tokens=24, seeds=2,
        )

    @classmethod
    def for_budget(cls, budget: str, time_share: float = 1.0) -> "RLHFConfig":
        if budget not in ("fast", "quick", "full"):
            raise ValueError(f"RLHFConfig.for_budget: budget must be 'fast', 'quick' or 'full', got {budget!r}")
        return cls.quick(time_share) if budget == "quick" else getattr(cls, budget)()

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(block_size=self.block_size, vocab_size=vocab_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=0.0, bias=False,
                         activation="gelu_tanh")   # GPT-2's tanh form: the same curve, cheaper than erf


def clone_gpt(model: GPT, trainable: bool = True) -> GPT:
    """A copy of a GPT with its own weights, on its device (frozen, in eval mode, with trainable=False)."""
    copy = GPT(model.config).to(model.lm_head.weight.device)
    copy.load_state_dict(model.state_dict())
    if not trainable:
        copy.requires_grad_(False)
        copy.eval()
    return copy


def clone_reward_model(model: RewardModel) -> RewardModel:
    copy = RewardModel(model.config).to(model.head.weight.device)
    copy.load_state_dict(model.state_dict())
    return copy


@mg.no_grad()
def lm_loss(model: GPT, data: np.ndarray, batches: int = 8, batch_size: int = 32, seed: int = 0) -> float:
    """The next-character loss on `data` (pre-training text), averaged over a few fixed batches."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    try:
        return float(np.mean([model(*get_batch(data, model.config.block_size, batch_size, rng))[1].item()
                              for _ in range(batches)]))
    finally:
        model.train(was_training)


class RLHFRun:
    """The steps of one run, in order, each keeping what it made on `self`:

        r = RLHFRun(RLHFConfig.full(), seed=0)
        r.pretrain(); r.supervised_fine_tuning(); r.reward_modelling(); r.ppo(); r.dpo(); r.evaluate()

    (`run_all` does exactly that). Lesson 8 calls them one by one and looks at each result.
    `device="cuda"` trains and samples every model on a GPU."""

    def __init__(self, config: RLHFConfig, seed: int = 0, progress: bool | None = None, device: str = "cpu"):
        self.config, self.seed, self.progress, self.device = config, seed, progress, device
        self.task = InstructionTask(seed)
        self.tokenizer = make_tokenizer(self.task)
        self.gpt_config = config.gpt_config(self.tokenizer.vocab_size)
        self.heldout_demonstrations = self.task.demonstrations("heldout", 200)
        # pre-training text the base model never saw: PPO-ptx's regression check
        self.pretrain_heldout = np.asarray(self.tokenizer.encode(
            self.task.pretrain_text(20_000, rng=[self.seed, 106])), dtype=np.int64)
        self.timings: dict[str, float] = {}

    def _timed(self, name, t0):
        self.timings[name] = round(time.perf_counter() - t0, 1)

    def pretrain(self) -> GPT:
        t0 = time.perf_counter()
        self.base, self.pretrain_history = pretrain_base(self.task, self.tokenizer, self.gpt_config,
                                                         self.config.pretrain, self.seed, self.progress, self.device)
        self._timed("pretrain", t0)
        return self.base

    def supervised_fine_tuning(self) -> GPT:
        t0 = time.perf_counter()
        c, tok = self.config, self.tokenizer
        self.sft = clone_gpt(self.base)
        self.sft_history = train_sft(self.sft, tok, self.task.demonstrations("train", c.n_demonstrations),
                                     c.sft, self.seed, self.progress)
        self.sft_history["heldout_loss"] = sft_eval_loss(self.sft, tok, self.heldout_demonstrations)
        self.sft_history["base_heldout_loss"] = sft_eval_loss(self.base, tok, self.heldout_demonstrations)
        self._timed("sft", t0)
        return self.sft

    def label(self, split: str, n: int, offset: int):
        """n fresh prompts of `split`, K SFT samples each, ranked by the labeler."""
        c = self.config
        prompts = self.task.prompts(split, n, rng=[self.seed, offset])
        return collect_comparisons(self.sft, self.tokenizer, prompts, c.k, c.rm_temperatures,
                                   c.max_new_tokens, mg.Generator(self.seed * 1000 + offset))

    def reward_modelling(self) -> RewardModel:
        t0 = time.perf_counter()
        c, tok = self.config, self.tokenizer
        self.comparisons = self.label("train", c.rm_prompts, 100)
        self.validation_comparisons = self.label("train", c.rm_eval_prompts, 101)  # new prompts, train words
        self.heldout_comparisons = self.label("heldout", c.rm_eval_prompts, 102)   # new prompts, new words
        self._timed("comparisons", t0)
        t0 = time.perf_counter()
        mg.manual_seed(self.seed * 1000 + 3)      # the head's init: the same whatever ran before in this process
        rm = self.reward_model = RewardModel.from_gpt(self.sft)
        h = self.reward_history = train_reward_model(rm, tok, self.comparisons, c.reward, self.seed,
                                                     self.progress)
        # measured on as many training comparisons as there are fresh ones (all of them cost a forward each)
        h["train_accuracy"] = pairwise_accuracy(rm, tok, self.comparisons[:c.rm_eval_prompts])
        h["validation_accuracy"] = pairwise_accuracy(rm, tok, self.validation_comparisons)
        h["heldout_accuracy"] = pairwise_accuracy(rm, tok, self.heldout_comparisons)
        h["normalization_shift"], h["normalization_scale"] = normalize_to_demonstrations(
            rm, tok, self.task.demonstrations("train", 256, rng=[self.seed, 104]),
            samples=[(x.prompt, y) for x in self.comparisons[:c.rm_eval_prompts] for y in x.responses])
        rm.requires_grad_(False)
        self._timed("reward model", t0)
        return rm

    def ppo(self) -> GPT:
        """PPO from SFT (self.policy, self.ppo_curves) and, if configured, PPO-ptx
        (self.policy_ptx, self.ppo_ptx_curves)."""
        t0 = time.perf_counter()
        self.ref = clone_gpt(self.sft, trainable=False)
        self.policy, self.value_model, self.ppo_curves = self._train_ppo(self.config.ppo)
        if self.config.ppo_ptx is not None:
            self.policy_ptx, _, self.ppo_ptx_curves = self._train_ppo(self.config.ppo_ptx)
        self._timed("ppo", t0)
        return self.policy

    def _train_ppo(self, ppo_config: PPOConfig):
        c, task = self.config, self.task
        policy = clone_gpt(self.sft)
        value_model = clone_reward_model(self.reward_model)   # V starts as the reward model
        value_model.requires_grad_(True)
        pretrain_data = np.asarray(self.tokenizer.encode(task.pretrain_text(50_000, rng=[self.seed, 105])),
                                   dtype=np.int64)
        ptx_rng = np.random.default_rng([self.seed, 6])

        def ptx_batches():
            return get_batch(pretrain_data, c.block_size, ppo_config.ptx_batch_size, ptx_rng)

        def prompt_source(n, rng):
            return task.prompts("train", n, rng=rng)

        curves = train_ppo(policy, self.ref, value_model, self.reward_model, self.tokenizer, prompt_source,
                           ppo_config, self.seed, ptx_batches=ptx_batches, progress=self.progress)
        return policy, value_model, curves

    def dpo(self) -> GPT:
        t0 = time.perf_counter()
        if not hasattr(self, "ref"):
            self.ref = clone_gpt(self.sft, trainable=False)
        self.dpo_policy = clone_gpt(self.sft)
        self.dpo_history = train_dpo(self.dpo_policy, self.ref, self.tokenizer, self.comparisons,
                                     self.config.dpo, self.seed, self.progress)
        self._timed("dpo", t0)
        return self.dpo_policy

    @property
    def models(self) -> dict:
        attrs = {"base": "base", "SFT": "sft", "PPO": "policy", "PPO-ptx": "policy_ptx", "DPO": "dpo_policy"}
        return {name: getattr(self, attrs[name]) for name in MODELS if hasattr(self, attrs[name])}

    def evaluate(self) -> list[dict]:
        """The table on fresh prompts over the training words (self.rows; the responses in
        self.samples), and on prompts over held-out words (self.heldout_rows)."""
        t0 = time.perf_counter()
        c = self.config
        self.eval_prompts = evaluation_prompts(self.task, "train", c.eval_per_kind, [self.seed, 200])
        self.rows, self.samples = evaluate_models(self.models, self.sft, self.reward_model, self.tokenizer,
                                                  self.eval_prompts, self.seed, max_new_tokens=c.max_new_tokens)
        self.heldout_prompts = evaluation_prompts(self.task, "heldout", c.eval_per_kind, [self.seed, 201])
        self.heldout_rows, self.heldout_samples = evaluate_models(
            self.models, self.sft, self.reward_model, self.tokenizer, self.heldout_prompts, self.seed,
            max_new_tokens=c.max_new_tokens)
        for row, heldout_row in zip(self.rows, self.heldout_rows):
            heldout_row["pre-training loss"] = row["pre-training loss"] = lm_loss(
                self.models[row["model"]], self.pretrain_heldout, seed=self.seed)
        self._timed("evaluation", t0)
        return self.rows

    def run_all(self) -> "RLHFRun":
        self.pretrain()
        self.supervised_fine_tuning()
        self.reward_modelling()
        self.ppo()
        self.dpo()
        self.evaluate()
        return self


# -- what one run leaves behind ------------------------------------------------------------------
def summary(r: RLHFRun) -> dict:
    """The run's numbers as plain JSON-able values."""
    rh, sh = r.reward_history, r.sft_history
    return {
        "seed": r.seed,
        "config": asdict(r.config),
        "table": r.rows,
        "heldout_words": r.heldout_rows,
        "sft_heldout_loss": sh["heldout_loss"],
        "base_heldout_loss": sh["base_heldout_loss"],
        "reward_model_train_accuracy": rh["train_accuracy"],
        "reward_model_validation_accuracy": rh["validation_accuracy"],
        "reward_model_heldout_accuracy": rh["heldout_accuracy"],
        "reward_model_normalization_shift": rh["normalization_shift"],
        "reward_model_normalization_scale": rh["normalization_scale"],
        "comparisons": len(r.comparisons),
        "comparison_pairs": sum(len(c.pairs) for c in r.comparisons),
        "heldout_comparison_pairs": sum(len(c.pairs) for c in r.heldout_comparisons),
        "ppo_curves": r.ppo_curves,
        "ppo_ptx_curves": getattr(r, "ppo_ptx_curves", None),
        "dpo_final_accuracy": float(np.mean(r.dpo_history["accuracy"][-10:])),
        "timings_s": r.timings,
    }


HELDOUT_COLUMNS = ("labeler score", "win rate vs SFT", "appropriate")
RM_ACCURACIES = {"reward model accuracy: training comparisons": "train_accuracy",
                 "reward model accuracy: new prompts, train words": "validation_accuracy",
                 "reward model accuracy: held-out words": "heldout_accuracy"}


def seed_metrics(r: RLHFRun) -> dict[str, float]:
    """One seed's headline numbers, flat ("PPO | win rate vs SFT": 0.7, ...), for minigrad_tutorials.seeds."""
    out = {}
    for row in r.rows:
        for key, value in row.items():
            if key != "model" and isinstance(value, (int, float)):
                out[f"{row['model']} | {key}"] = float(value)
    for row in r.heldout_rows:
        for key in HELDOUT_COLUMNS:
            out[f"{row['model']} | {key} (held-out words)"] = float(row[key])
    for name, key in RM_ACCURACIES.items():
        out[name] = float(r.reward_history[key])
    out["seconds"] = float(sum(r.timings.values()))
    return out


def run_seed(seed: int, budget: str = "quick", time_share: float = 1.0) -> dict[str, float]:
    """The whole pipeline for one seed at a budget (`time_share` of the quick budget's seconds);
    its `seed_metrics`. What minigrad_tutorials.seeds runs in each worker process (no progress bars there)."""
    return seed_metrics(RLHFRun(RLHFConfig.for_budget(budget, time_share), seed, progress=False).run_all())


def table_over_seeds(summary_by_metric: dict, columns=COLUMNS + ("pre-training loss",)) -> list[dict]:
    """The table over seeds: one row per model, each cell "mean ± half-width of the 95% interval"
    from `minigrad_tutorials.seeds.summarize`'s output."""
    rows = []
    for model in MODELS:
        cells = {c: summary_by_metric.get(f"{model} | {c}") for c in columns}
        if all(v is None for v in cells.values()):
            continue
        row = {"model": model}
        for c, stat in cells.items():
            row[c] = "" if stat is None else stat.format()
        rows.append(row)
    return rows


def markdown_table(rows, columns=None) -> str:
    columns = columns or list(rows[0])

    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot_curves(curves: dict, ptx_curves: dict | None = None):
    """PPO's training curves, one panel each, one point per rollout; returns the figure.
    With `ptx_curves`, the PPO-ptx run is drawn dashed in the same panels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    panels = [
        (("reward", "RM score"), ("labeler", "labeler score")),
        (("kl", "KL"),),
        (("value_loss", "value loss"),),
        (("clip_fraction", "policy"), ("value_clip_fraction", "value")),
        (("entropy", "entropy"),),
        (("response_length", "length"),),
    ]
    titles = ["mean reward of the rollouts", "KL(pi || SFT), nats per response", "value loss",
              "clip fraction", "entropy, nats per token", "response length, characters"]
    runs = [("", curves, "-")] + ([(" (PPO-ptx)", ptx_curves, "--")] if ptx_curves else [])
    for ax, series, title in zip(axes.flat, panels, titles):
        for n, (key, label) in enumerate(series):
            for suffix, run_curves, style in runs:
                values = run_curves[key]
                ax.plot(np.arange(1, len(values) + 1), values, style, color=f"C{n}", label=label + suffix)
        ax.set_title(title)
        ax.set_xlabel("PPO iteration (rollout)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(series) > 1 or len(runs) > 1:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


TABLE_COLUMNS = ("model",) + COLUMNS + ("pre-training loss", "exact", "refused", "mean length", "n prompts")


def write_outputs(r: RLHFRun, out_dir) -> dict:
    """rlhf_table.md, rlhf_table.json and rlhf_curves.png in out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summary(r)
    heading = (f"InstructGPT on the toy task: {s['table'][0]['n prompts']} fresh prompts, seed "
               f"{r.seed} (one seed: see lesson 8 for the table over seeds); one sample per prompt at "
               f"temperature 1.\nReward model pairwise accuracy: {s['reward_model_train_accuracy']:.3f} on its "
               f"training comparisons, {s['reward_model_validation_accuracy']:.3f} on new prompts with training "
               f"words, {s['reward_model_heldout_accuracy']:.3f} on prompts with held-out words.\n")
    md = (heading + "\n" + markdown_table(r.rows, TABLE_COLUMNS) + "\n\nThe same on prompts over held-out "
          "words (never in any training prompt):\n\n" + markdown_table(r.heldout_rows, TABLE_COLUMNS) + "\n")
    paths = {"table_md": out / "rlhf_table.md", "table_json": out / "rlhf_table.json",
             "curves": out / "rlhf_curves.png"}
    paths["table_md"].write_text(md)
    paths["table_json"].write_text(json.dumps(s, indent=2))
    fig = plot_curves(r.ppo_curves, getattr(r, "ppo_ptx_curves", None))
    fig.savefig(paths["curves"], dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}


def run(out_dir, fast: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Pre-train, SFT, reward model, PPO (and PPO-ptx) and DPO for one seed; write the table and
    the curves into out_dir.

    Returns the summary (see `summary`: the rows for each model on fresh prompts under "table" and
    on held-out words under "heldout_words", the reward model's accuracies, the PPO curves, ...)
    plus "paths" and "markdown"."""
    config = RLHFConfig.fast() if fast else RLHFConfig.full()
    r = RLHFRun(config, seed, progress=None if progress else False).run_all()
    paths = write_outputs(r, out_dir)
    s = summary(r)
    s["paths"] = paths
    s["markdown"] = Path(paths["table_md"]).read_text()
    return s
