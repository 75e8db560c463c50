"""InstructGPT end to end: pre-train, SFT, reward model, PPO (and DPO), then the table.

    from models.instructgpt.pipeline import run
    result = run("out/rlhf", fast=False, seed=0)      # what `minigrad rlhf` calls
    result["heldout"]     # rows for base, SFT, PPO, DPO (and PPO with a loose KL) on held-out prompts

writes into out_dir:
    rlhf_table.md / rlhf_table.json   the table (held-out prompts) and the run's other numbers
    rlhf_curves.png                   PPO's curves: reward, KL, value loss, clip fraction, entropy

`RLHFConfig.full()` is sized to run in minutes on two CPU cores (about three), `RLHFConfig.quick()`
(lesson 8's default: fewer comparisons, no loose-KL run) in about two, `RLHFConfig.fast()` in
well under a minute (tests, `minigrad tour --fast`); the fast run is too short to be good at the
task, but every step runs for real.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.data import get_batch
from models.gpt import GPT, GPTConfig

from .base import PretrainConfig, make_tokenizer, pretrain_base
from .dpo import DPOConfig, train_dpo
from .evaluate import evaluate_models
from .ppo import PPOConfig, train_ppo
from .reward import (RewardConfig, RewardModel, collect_comparisons, normalize_to_demonstrations,
                     pairwise_accuracy, train_reward_model)
from .sft import SFTConfig, sft_eval_loss, train_sft
from .task import InstructionTask


@dataclass
class RLHFConfig:
    """Every size and setting of a run. The defaults are the full run (see the module docstring)."""
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 64           # a prompt and its answer fit in 64 characters
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(steps=600))
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(steps=600))
    n_demonstrations: int = 20_000
    rm_prompts: int = 1000         # train prompts labelled for the reward model
    rm_eval_prompts: int = 150     # fresh prompts of each split, labelled to measure its accuracy
    k: int = 9                     # responses ranked per prompt (the paper: 4 to 9): C(9, 2) = 36 pairs
    rm_temperatures: tuple = (0.7, 1.0, 1.5)   # the K samples' temperatures, in turn
    # two epochs: unlike the paper's 6B model, ours still gains on new prompts in the second
    reward: RewardConfig = field(default_factory=lambda: RewardConfig(epochs=2.0))
    ppo: PPOConfig = field(default_factory=PPOConfig)
    # a second PPO run with a loose, fixed KL penalty, to show what it buys (None: skip it)
    ppo_loose: PPOConfig | None = field(default_factory=lambda: PPOConfig(
        iterations=16, learning_rate=1e-4, kl_coef=0.05, adaptive_kl=False))
    dpo: DPOConfig = field(default_factory=lambda: DPOConfig(epochs=0.25, batch_size=64))
    eval_prompts: int = 200
    max_new_tokens: int = 40

    @classmethod
    def full(cls) -> "RLHFConfig":
        return cls()

    @classmethod
    def quick(cls) -> "RLHFConfig":
        """The full run with fewer comparisons (600 prompts, not 1000) and without the loose-KL PPO
        run: lesson 8's default, about two minutes on two CPU cores, where the full run takes three."""
        return cls(rm_prompts=600, ppo_loose=None)

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
            ppo_loose=None,
            dpo=DPOConfig(epochs=0.25, batch_size=16),
            eval_prompts=32, max_new_tokens=24,
        )

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


LOOSE = "PPO, loose KL"    # the table's name for the optional second PPO run


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
        prompts = self.task.prompts(split, n, rng=self.seed + offset)
        return collect_comparisons(self.sft, self.tokenizer, prompts, c.k, c.rm_temperatures,
                                   c.max_new_tokens, mg.Generator(self.seed + offset + 1000))

    def reward_modelling(self) -> RewardModel:
        t0 = time.perf_counter()
        c, tok = self.config, self.tokenizer
        self.comparisons = self.label("train", c.rm_prompts, 100)
        self.validation_comparisons = self.label("train", c.rm_eval_prompts, 101)  # new prompts, train words
        self.heldout_comparisons = self.label("heldout", c.rm_eval_prompts, 102)   # new prompts, new words
        self._timed("comparisons", t0)
        t0 = time.perf_counter()
        rm = self.reward_model = RewardModel.from_gpt(self.sft)
        h = self.reward_history = train_reward_model(rm, tok, self.comparisons, c.reward, self.seed,
                                                     self.progress)
        h["train_accuracy"] = pairwise_accuracy(rm, tok, self.comparisons)
        h["validation_accuracy"] = pairwise_accuracy(rm, tok, self.validation_comparisons)
        h["heldout_accuracy"] = pairwise_accuracy(rm, tok, self.heldout_comparisons)
        h["normalization_shift"], h["normalization_scale"] = normalize_to_demonstrations(
            rm, tok, self.task.demonstrations("train", 256, rng=self.seed + 104),
            samples=[(c.prompt, y) for c in self.comparisons for y in c.responses])
        rm.requires_grad_(False)
        self._timed("reward model", t0)
        return rm

    def ppo(self) -> GPT:
        """PPO from SFT (self.policy, self.ppo_curves) and, if configured, the loose-KL run
        (self.policy_loose, self.ppo_loose_curves)."""
        t0 = time.perf_counter()
        self.ref = clone_gpt(self.sft, trainable=False)
        self.policy, self.value_model, self.ppo_curves = self._train_ppo(self.config.ppo)
        if self.config.ppo_loose is not None:
            self.policy_loose, _, self.ppo_loose_curves = self._train_ppo(self.config.ppo_loose)
        self._timed("ppo", t0)
        return self.policy

    def _train_ppo(self, ppo_config: PPOConfig):
        c, task = self.config, self.task
        policy = clone_gpt(self.sft)
        value_model = clone_reward_model(self.reward_model)   # V starts as the reward model
        value_model.requires_grad_(True)
        pretrain_data = np.asarray(self.tokenizer.encode(task.pretrain_text(50_000, rng=self.seed + 105)),
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
        self.dpo_policy = clone_gpt(self.sft)
        self.dpo_history = train_dpo(self.dpo_policy, self.ref, self.tokenizer, self.comparisons,
                                     self.config.dpo, self.seed, self.progress)
        self._timed("dpo", t0)
        return self.dpo_policy

    @property
    def models(self) -> dict:
        return {name: getattr(self, attr) for name, attr in
                (("base", "base"), ("SFT", "sft"), ("PPO", "policy"), ("DPO", "dpo_policy"),
                 (LOOSE, "policy_loose"))
                if hasattr(self, attr)}

    def evaluate(self) -> list[dict]:
        """The table on held-out prompts (self.rows) and on fresh train-split prompts (self.train_rows)."""
        t0 = time.perf_counter()
        c = self.config
        self.eval_prompts = self.task.prompts("heldout", c.eval_prompts, rng=self.seed + 200)
        self.rows, self.samples = evaluate_models(self.models, self.sft, self.reward_model, self.tokenizer,
                                                  self.eval_prompts, self.seed, max_new_tokens=c.max_new_tokens)
        self.train_eval_prompts = self.task.prompts("train", c.eval_prompts, rng=self.seed + 201)
        self.train_rows, self.train_samples = evaluate_models(
            self.models, self.sft, self.reward_model, self.tokenizer, self.train_eval_prompts, self.seed,
            max_new_tokens=c.max_new_tokens)
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


# -- what the run leaves behind ------------------------------------------------------------------
TABLE_COLUMNS = ("model", "labeler score", "win rate vs SFT", "RM score", "KL from SFT", "hallucination",
                 "exact", "greedy score", "mean length", "n prompts", "seed")


def markdown_table(rows) -> str:
    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in TABLE_COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def summary(r: RLHFRun) -> dict:
    """The run's numbers as plain JSON-able values."""
    rh, sh = r.reward_history, r.sft_history
    return {
        "seed": r.seed,
        "config": asdict(r.config),
        "heldout": r.rows,
        "train_split": r.train_rows,
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
        "ppo_loose_curves": getattr(r, "ppo_loose_curves", None),
        "dpo_final_accuracy": float(np.mean(r.dpo_history["accuracy"][-10:])),
        "timings_s": r.timings,
    }


def plot_curves(curves: dict, loose_curves: dict | None = None):
    """PPO's training curves, one panel each, one point per rollout; returns the figure.
    With `loose_curves`, the loose-KL run is drawn dashed in the same panels."""
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
    runs = [("", curves, "-")] + ([(" (loose KL)", loose_curves, "--")] if loose_curves else [])
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


def write_outputs(r: RLHFRun, out_dir) -> dict:
    """rlhf_table.md, rlhf_table.json and rlhf_curves.png in out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summary(r)
    heading = (f"InstructGPT on the toy task: {s['heldout'][0]['n prompts']} held-out prompts, seed "
               f"{r.seed}; one sample per prompt at temperature 1.\n"
               f"Reward model pairwise accuracy: {s['reward_model_train_accuracy']:.3f} on its training "
               f"comparisons, {s['reward_model_validation_accuracy']:.3f} on new prompts with training "
               f"words, {s['reward_model_heldout_accuracy']:.3f} on held-out prompts.\n")
    md = (heading + "\n" + markdown_table(r.rows) + "\n\nThe same on fresh train-split prompts "
          "(words seen in training):\n\n" + markdown_table(r.train_rows) + "\n")
    paths = {"table_md": out / "rlhf_table.md", "table_json": out / "rlhf_table.json",
             "curves": out / "rlhf_curves.png"}
    paths["table_md"].write_text(md)
    paths["table_json"].write_text(json.dumps(s, indent=2))
    fig = plot_curves(r.ppo_curves, getattr(r, "ppo_loose_curves", None))
    fig.savefig(paths["curves"], dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}


def run(out_dir, fast: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Pre-train, SFT, reward model, PPO and DPO; write the table and the curves into out_dir.

    Returns the summary (see `summary`: the rows for base/SFT/PPO/DPO on held-out prompts under
    "heldout", the reward model's accuracies, the PPO curves, ...) plus "paths" and "markdown"."""
    config = RLHFConfig.fast() if fast else RLHFConfig.full()
    r = RLHFRun(config, seed, progress=None if progress else False).run_all()
    paths = write_outputs(r, out_dir)
    s = summary(r)
    s["paths"] = paths
    s["markdown"] = Path(paths["table_md"]).read_text()
    return s
