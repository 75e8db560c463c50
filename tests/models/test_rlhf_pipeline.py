"""InstructGPT end to end in fast mode, with a fixed seed: every step runs, the outputs are
written, PPO raises the reward model's score over SFT, and a seed's numbers feed the table over
seeds."""
import json
import math

import pytest

from minigrad_tutorials.seeds import summarize
from minigrad_models.instructgpt import KINDS
from minigrad_models.instructgpt.evaluate import COLUMNS, HABITS
from minigrad_models.instructgpt.pipeline import (MODELS, RM_ACCURACIES, TABLE_COLUMNS, RLHFConfig, run,
                                         table_over_seeds)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rlhf")
    return run(out, fast=True, seed=0, progress=False), out


def test_fast_run_writes_the_table_and_the_curves(fast_run):
    summary, out = fast_run
    for name in ("rlhf_table.md", "rlhf_table.json", "rlhf_curves.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "rlhf_table.json").read_text())
    for key in ("table", "heldout_words"):
        rows = {r["model"]: r for r in saved[key]}
        assert list(rows) == ["base", "SFT", "PPO", "DPO"]          # the fast budget trains no PPO-ptx
        for r in rows.values():
            assert set(TABLE_COLUMNS) <= set(r) and set(HABITS) <= set(r)
            assert r["n prompts"] == len(KINDS) * saved["config"]["eval_per_kind"]
            assert all(math.isfinite(r[c]) for c in COLUMNS)
            assert 0 <= r["harmful compliance"] <= 1 and 0 <= r["appropriate"] <= 1
    assert "| PPO |" in (out / "rlhf_table.md").read_text()
    rows = {r["model"]: r for r in saved["table"]}
    # SFT measured against an independent SFT sample: a coin flip, give or take the noise of
    # a few dozen prompts (a win rate computed the wrong way round would sit near 0 or 1)
    assert 0.15 < rows["SFT"]["win rate vs SFT"] < 0.85
    assert rows["SFT"]["KL from SFT"] == 0.0


def test_fast_run_ppo_raises_the_reward_model_score_over_sft(fast_run):
    summary, _ = fast_run
    rows = {r["model"]: r for r in summary["table"]}
    assert rows["PPO"]["RM score"] > rows["SFT"]["RM score"]
    # it moved away from SFT, but only a little: the KL penalty holds it
    assert 0 < rows["PPO"]["KL from SFT"] < 5
    curves = summary["ppo_curves"]
    n = summary["config"]["ppo"]["iterations"]
    for key in ("reward", "kl", "value_loss", "clip_fraction", "entropy"):
        assert len(curves[key]) == n and all(math.isfinite(v) for v in curves[key])
    assert curves["kl"][0] == pytest.approx(0.0, abs=1e-4)  # the first rollout comes from SFT itself
    assert 0.0 <= min(curves["clip_fraction"]) and max(curves["clip_fraction"]) <= 1.0


def test_fast_run_reward_model_beats_chance_on_its_own_comparisons(fast_run):
    summary, _ = fast_run
    assert summary["reward_model_train_accuracy"] > 0.5
    assert summary["comparison_pairs"] > summary["comparisons"] > 0


def test_table_over_seeds_from_seed_metrics():
    # two made-up seeds' metrics in the pipeline's naming, through minigrad_tutorials.seeds
    seeds = [{f"{m} | {c}": float(i + j) for i, m in enumerate(MODELS[:2]) for c in COLUMNS} for j in (0, 1)]
    table = table_over_seeds(summarize(seeds))
    assert [r["model"] for r in table] == ["base", "SFT"]            # models without numbers are left out
    assert table[1]["labeler score"] == summarize(seeds)["SFT | labeler score"].format()
    assert table[0]["win rate vs SFT"].startswith("0.500 ± ")        # mean of 0 and 1
    assert table[0]["pre-training loss"] == ""                       # a column nobody measured


def test_budgets_name_their_seeds():
    assert RLHFConfig.full().seeds >= 5 and RLHFConfig.full().ppo_ptx is not None
    assert 2 <= RLHFConfig.quick().seeds < RLHFConfig.full().seeds
    with pytest.raises(ValueError, match="budget must be"):
        RLHFConfig.for_budget("huge")
    assert set(RM_ACCURACIES)


def test_the_quick_budget_is_wall_clock_and_full_is_fixed_steps():
    from models.instructgpt.pipeline import QUICK_SECONDS

    quick, half = RLHFConfig.quick(), RLHFConfig.for_budget("quick", time_share=0.5)
    stages = {"pretrain": "pretrain", "sft": "sft", "reward model": "reward", "ppo": "ppo", "dpo": "dpo"}
    for step, field in stages.items():
        assert getattr(quick, field).seconds == QUICK_SECONDS[step]
        assert getattr(half, field).seconds == QUICK_SECONDS[step] / 2     # seeds taking turns split the time
        assert getattr(RLHFConfig.full(), field).seconds is None           # --full keeps its counts
        assert getattr(RLHFConfig.fast(), field).seconds is None


def test_a_tiny_time_budget_stops_every_training_step_early():
    from dataclasses import replace

    from models.instructgpt.pipeline import RLHFRun

    fast = RLHFConfig.fast()
    big = 10_000      # steps no stage could finish in a fraction of a second
    config = replace(fast, pretrain=replace(fast.pretrain, steps=big, seconds=0.3),
                     sft=replace(fast.sft, steps=big, seconds=0.3),
                     reward=replace(fast.reward, epochs=50.0, seconds=0.3),
                     ppo=replace(fast.ppo, iterations=big, seconds=0.3),
                     dpo=replace(fast.dpo, epochs=50.0, seconds=0.3), rm_prompts=16, rm_eval_prompts=4)
    r = RLHFRun(config, seed=0, progress=False)
    r.pretrain()
    r.supervised_fine_tuning()
    r.reward_modelling()
    r.ppo()
    r.dpo()
    assert 1 <= r.pretrain_history["steps"] < big and len(r.pretrain_history["loss"]) == r.pretrain_history["steps"]
    assert 1 <= r.sft_history["steps"] < big and len(r.sft_history["loss"]) == r.sft_history["steps"]
    epoch = -(-len(r.comparisons) // config.reward.prompts_per_batch)     # batches in one epoch
    assert 1 <= r.reward_history["steps"] < 50 * epoch
    assert 1 <= len(r.ppo_curves["kl"]) < big
    from models.instructgpt.dpo import comparison_pairs

    pairs = len(comparison_pairs(r.comparisons))
    assert 1 <= r.dpo_history["steps"] < 50 * -(-pairs // config.dpo.batch_size)
    for step in ("pretrain", "sft", "reward model", "ppo", "dpo"):
        assert r.timings[step] < 30, r.timings    # each stopped near its 0.3 s (plus one step and set-up)
