"""Lesson 8 runs end to end in fast mode and its tables say what the lesson claims."""
import math

import pytest

from minigrad_models.instructgpt import judge

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")
pytest.importorskip("scipy", reason="the table over seeds uses minigrad_tutorials.seeds (scipy's t quantiles)")


def test_lesson_08_instructgpt_fast(run_lesson, claims_of):
    result = run_lesson("tutorials/08_instructgpt.py")
    assert result["fast"] is True and result["name"] == "08_instructgpt"
    out, m = result["out_dir"], result["metrics"]
    for figure in ("ppo_curves", "table_over_seeds"):
        assert (out / f"{figure}.png").stat().st_size > 0
    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}

    # the labeler table is the labeler's own verdicts, each prompt's favourite answer first
    example = tables["labeler_example"]
    assert example[0]["response"] == repr(" tac\n")
    assert example[0]["score"] == pytest.approx(judge("Q: reverse cat\nA:", " tac\n").score, abs=1e-3)
    for prompt in {r["prompt"] for r in example}:
        scores = [r["score"] for r in example if r["prompt"] == prompt]
        assert scores[0] == max(scores)
    insult = [r for r in example if "insult" in r["prompt"]]
    assert insult[0]["appropriate"] and insult[1]["toxic"]

    # SFT learns the writers' mixture: the writers' rates are the ones task.WRITERS names
    writers = tables["sft_habits"][0]
    assert writers["tasks opened with Sure!"] == pytest.approx(0.5, abs=0.05)
    assert writers["known colour: I do not know"] == 0.0

    # a comparison lists the K answers in the labeler's order
    scores = [r["labeler score"] for r in tables["comparison_example"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 4

    # one seed's table, then the table over seeds: the same models, intervals in every cell
    seed_rows = {r["model"]: r for r in tables["rlhf_table_seed0"]}
    assert list(seed_rows) == ["base", "SFT", "PPO", "DPO"]
    assert seed_rows["SFT"]["KL from SFT"] == 0.0
    for r in seed_rows.values():
        assert 0.0 <= r["harmful compliance"] <= 1.0 and 0.0 <= r["win rate vs SFT"] <= 1.0
    over = {r["model"]: r for r in tables["rlhf_table_over_seeds"]}
    assert list(over) == list(seed_rows)
    assert all("±" in over[name]["labeler score"] for name in over)
    assert m["seeds"] == 2
    low, high = (float(x) for x in m["PPO win rate vs SFT, 95% interval"].strip("[]").split(","))
    assert low <= m["PPO win rate vs SFT (mean over seeds)"] <= high
    assert math.isfinite(m["PPO final KL from SFT (nats per response, rollouts)"])
    assert 0.5 < m["reward model accuracy: training comparisons"] <= 1.0

    # every paper finding is listed with its difference over seeds; two seeds are too few to judge
    findings = tables["paper_findings"]
    assert len(findings) == 9 and all("±" in f["toy: difference over seeds"] for f in findings)
    assert {f["verdict"] for f in findings} == {"not judged (2 seeds; --full runs 5)"}

    # the lecture's two claims, judged from the intervals, and the training steps the lesson ran
    claims = claims_of(result, 2)
    assert claims["PPO beats SFT (labeler's win rate of PPO against SFT)"]["test"].endswith("> 0.5")
    assert claims["SFT beats the base model (labeler score)"]["test"].startswith("SFT - base ")
    trained = {t["model"]: t["steps"] for t in result["training"]}
    assert trained["SFT"] == 100 and trained["PPO (rollouts)"] == 5    # fast: the fixed counts, no time budget
