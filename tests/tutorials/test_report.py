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


def test_another_seed_gets_its_share_of_the_time_budget(clean, tmp_path):
    clean.setenv("MINIGRAD_SEED", "3")
    clean.setenv("MINIGRAD_TIME_SHARE", "0.5")
    lesson = Lesson("09_x", "x", out_dir=tmp_path)
    assert lesson.seed == 3 and lesson.other_seed
    assert lesson.train_budget(fast=60, full=3000, quick_seconds=25) == {"steps": 3000, "seconds": 12.5}
    assert lesson.run_seeds(quick=2) == [0, 1]      # another seed starts no seeds of its own
    assert lesson._other_seeds is None


def test_claims_are_judged_from_intervals_and_kept_in_the_result(clean, tmp_path, capsys):
    pytest.importorskip("scipy", reason="the t interval uses scipy")
    from minigrad_tutorials.seeds import difference, estimate

    lesson = Lesson("09_x", "x", out_dir=tmp_path)
    runs = [{"RNN": 2.00, "LSTM": 1.90}, {"RNN": 2.10, "LSTM": 1.99}, {"RNN": 1.95, "LSTM": 1.86}]
    # LSTM - RNN: -0.10, -0.11, -0.09: mean -0.1, s 0.01, half-width 4.303 * 0.01 / sqrt(3) = 0.0248
    said = lesson.claim("LSTM below RNN", {"RNN": estimate([r["RNN"] for r in runs])},
                        test=difference(runs, "LSTM", "RNN"), direction="below", test_name="LSTM - RNN")
    assert said == "reproduced"
    assert "claim: LSTM below RNN: reproduced" in capsys.readouterr().out
    # the same mean from two seeds far apart: the interval holds zero
    assert lesson.claim("PPO beats SFT", {}, test=estimate([0.9, 0.3]), threshold=0.5) == "not shown at this budget"
    lesson.finish()
    claims = json.loads((tmp_path / "result.json").read_text())["claims"]
    assert [c["verdict"] for c in claims] == ["reproduced", "not shown at this budget"]
    first = claims[0]
    assert first["claim"] == "LSTM below RNN" and first["seeds"] == 3 and first["budget"] == "quick"
    assert first["test"] == "LSTM - RNN -0.100 ± 0.025 < 0"
    assert first["measured"].startswith("RNN 2.02 ± ")
