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
