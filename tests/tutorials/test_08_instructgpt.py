"""Lesson 8 runs end to end in fast mode and its tables say what the lesson claims."""
import math

import pytest

from models.instructgpt import judge

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_08_instructgpt_fast(run_lesson):
    result = run_lesson("tutorials/08_instructgpt.py")
    assert result["fast"] is True and result["name"] == "08_instructgpt"
    out, m = result["out_dir"], result["metrics"]
    for figure in ("ppo_curves", "labeler_scores"):
        assert (out / f"{figure}.png").stat().st_size > 0
    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}

    # the labeler table is the labeler's own verdicts, best answer first
    example = tables["labeler_example"]
    assert example[0]["response"] == repr(" tac\n")
    assert example[0]["score"] == pytest.approx(judge("Q: reverse cat\nA:", " tac\n").score, abs=1e-3)
    assert example[0]["score"] == max(r["score"] for r in example)

    # a comparison lists the K answers in the labeler's order
    comparison = tables["comparison_example"]
    scores = [r["labeler score"] for r in comparison]
    assert scores == sorted(scores, reverse=True) and len(comparison) >= 4

    # the table: four models on the same held-out prompts, numbers where they should be
    rows = {r["model"]: r for r in tables["rlhf_table_heldout"]}
    assert list(rows) == ["base", "SFT", "PPO", "DPO"]
    assert rows["SFT"]["KL from SFT"] == 0.0
    assert len({r["n prompts"] for r in rows.values()}) == 1
    for r in rows.values():
        assert 0.0 <= r["hallucination"] <= 1.0 and 0.0 <= r["win rate vs SFT"] <= 1.0
    assert m["PPO labeler score (held-out)"] == pytest.approx(rows["PPO"]["labeler score"])
    assert m["PPO RM score (held-out)"] > m["SFT RM score (held-out)"]
    assert math.isfinite(m["PPO final KL from SFT (nats per response, rollouts)"])
    assert 0.5 < m["reward model accuracy, training comparisons"] <= 1.0
