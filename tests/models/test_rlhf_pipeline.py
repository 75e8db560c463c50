"""InstructGPT end to end in fast mode, with a fixed seed: every step runs, the outputs are
written, and PPO raises the reward model's score over SFT."""
import json
import math

import pytest

from models.instructgpt.pipeline import TABLE_COLUMNS, run


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rlhf")
    return run(out, fast=True, seed=0, progress=False), out


def test_fast_run_writes_the_table_and_the_curves(fast_run):
    summary, out = fast_run
    for name in ("rlhf_table.md", "rlhf_table.json", "rlhf_curves.png"):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "rlhf_table.json").read_text())
    rows = {r["model"]: r for r in saved["heldout"]}
    assert list(rows) == ["base", "SFT", "PPO", "DPO"]
    for r in rows.values():
        assert set(TABLE_COLUMNS) <= set(r)
        assert r["seed"] == 0 and r["n prompts"] == saved["config"]["eval_prompts"]
        assert all(math.isfinite(r[c]) for c in TABLE_COLUMNS if c not in ("model",))
    assert "| PPO |" in (out / "rlhf_table.md").read_text()
    # SFT measured against an independent SFT sample: a coin flip, give or take the noise of
    # a few dozen prompts (a win rate computed the wrong way round would sit near 0 or 1)
    assert 0.15 < rows["SFT"]["win rate vs SFT"] < 0.85
    assert rows["SFT"]["KL from SFT"] == 0.0


def test_fast_run_ppo_raises_the_reward_model_score_over_sft(fast_run):
    summary, _ = fast_run
    rows = {r["model"]: r for r in summary["heldout"]}
    train_rows = {r["model"]: r for r in summary["train_split"]}
    assert rows["PPO"]["RM score"] > rows["SFT"]["RM score"]
    assert train_rows["PPO"]["RM score"] > train_rows["SFT"]["RM score"]
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
