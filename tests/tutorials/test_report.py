"""minigrad_tutorials.report: which budget a lesson runs at (fast / quick / full), from its flags or the
environment, and what it leaves in result.json."""
import json
import sys

import pytest

from minigrad_tutorials.report import BUDGETS, Lesson, budget_mode


@pytest.fixture
def clean(monkeypatch):
    """No budget flag in argv, none in the environment: what a plain `python tutorials/NN.py` sees."""
    monkeypatch.delenv("MINIGRAD_FAST", raising=False)
    monkeypatch.delenv("MINIGRAD_FULL", raising=False)
    monkeypatch.setattr(sys, "argv", ["lesson.py"])
    return monkeypatch


@pytest.mark.parametrize("argv, env, expected", [
    ([], {}, "quick"),                                    # the default
    (["--fast"], {}, "fast"),
    (["--full"], {}, "full"),
    ([], {"MINIGRAD_FAST": "1"}, "fast"),                 # the test suite's way
    ([], {"MINIGRAD_FULL": "1"}, "full"),
    ([], {"MINIGRAD_FAST": "0", "MINIGRAD_FULL": "0"}, "quick"),   # what the tour sets for quick
    ([], {"MINIGRAD_FAST": "", "MINIGRAD_FULL": "1"}, "full"),
    (["--full"], {"MINIGRAD_FAST": "1"}, "full"),         # the command line wins over the environment
    (["--fast"], {"MINIGRAD_FULL": "1"}, "fast"),
    (["--out", "x", "--fast"], {}, "fast"),
])
def test_the_budget_comes_from_the_flags_then_the_environment(clean, argv, env, expected):
    clean.setattr(sys, "argv", ["lesson.py"] + argv)
    for k, v in env.items():
        clean.setenv(k, v)
    assert budget_mode() == expected


@pytest.mark.parametrize("argv, env, where", [
    (["--fast", "--full"], {}, "command line"),
    ([], {"MINIGRAD_FAST": "1", "MINIGRAD_FULL": "1"}, "environment"),
])
def test_fast_and_full_together_is_an_error(clean, argv, env, where):
    clean.setattr(sys, "argv", ["lesson.py"] + argv)
    for k, v in env.items():
        clean.setenv(k, v)
    with pytest.raises(ValueError, match=f"both fast and full .*{where}.*pick one"):
        budget_mode()


@pytest.mark.parametrize("budget", BUDGETS)
def test_lesson_flags_pick_and_result(clean, tmp_path, budget):
    if budget != "quick":
        clean.setenv(f"MINIGRAD_{budget.upper()}", "1")
    lesson = Lesson("09_x", "x", out_dir=tmp_path)
    assert lesson.budget == budget
    assert (lesson.fast, lesson.quick, lesson.full) == (budget == "fast", budget == "quick", budget == "full")
    assert lesson.pick(fast=10, quick=200, full=3000) == {"fast": 10, "quick": 200, "full": 3000}[budget]
    lesson.finish()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["budget"] == budget and result["fast"] is (budget == "fast")


def test_pick_needs_every_budget_by_name(clean, tmp_path):
    lesson = Lesson("09_x", "x", out_dir=tmp_path)
    with pytest.raises(TypeError):
        lesson.pick(fast=1, full=3)      # a forgotten budget is a mistake, not a silent default
    with pytest.raises(TypeError):
        lesson.pick(1, 2, 3)             # positional values would be too easy to swap


@pytest.mark.parametrize("budget, expected", [("fast", {"steps": 60, "seconds": None}),
                                              ("quick", {"steps": 3000, "seconds": 25}),
                                              ("full", {"steps": 3000, "seconds": None})])
def test_train_budget_is_fixed_steps_or_a_share_of_time(clean, tmp_path, budget, expected):
    if budget != "quick":
        clean.setenv(f"MINIGRAD_{budget.upper()}", "1")
    lesson = Lesson("09_x", "x", out_dir=tmp_path)
    assert lesson.train_budget(fast=60, full=3000, quick_seconds=25) == expected


def test_result_keeps_the_point_the_verdict_the_training_and_the_notes(clean, tmp_path, capsys):
    lesson = Lesson("09_x", "x", out_dir=tmp_path, point="Gates help.")
    assert f"09_x: quick budget; figures and tables go to {tmp_path.resolve()}" in capsys.readouterr().out
    lesson.trained("LSTM", 412, 25.04)
    lesson.metric("LSTM loss", 1.93, note="3000 updates reach 1.90")
    lesson.metric("RNN loss", 1.95)
    assert lesson.point_shown(False, "LSTM 1.93 > RNN 1.92") is False
    assert "point NOT shown at the quick budget: LSTM 1.93 > RNN 1.92" in capsys.readouterr().out
    lesson.finish()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["point"] == "Gates help."
    assert result["verdict"] == {"shown": False, "evidence": "LSTM 1.93 > RNN 1.92"}
    assert result["training"] == [{"model": "LSTM", "steps": 412, "seconds": 25.0}]
    assert result["notes"] == {"LSTM loss": "3000 updates reach 1.90"}
