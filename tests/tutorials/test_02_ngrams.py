"""Lesson 2 runs end to end in fast mode and its numbers say what the lesson claims."""
import math

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_02_ngrams_fast(run_lesson):
    result = run_lesson("tutorials/02_ngrams.py")
    assert result["fast"] is True and result["name"] == "02_ngrams"
    m = result["metrics"]
    out = result["out_dir"]
    for figure in ("bigram_counts", "loss_vs_n"):
        assert (out / f"{figure}.png").stat().st_size > 0

    tables = {item["name"]: item for item in result["items"] if item["kind"] == "table"}
    # the first-letter row, one line per next character: P = C / row total, and it sums to one
    first = {r["w_n"]: r for r in tables["first_letter_row"]["rows"]}
    total = sum(r["C(. w_n)"] for r in first.values())
    assert sum(r["P(w_n | .)"] for r in first.values()) == pytest.approx(1.0, abs=1e-3)
    assert m["P(a | .) bigram MLE"] == pytest.approx(first["a"]["C(. w_n)"] / total)
    assert len(tables["first_letter_row"]["rows"][0]) == 3   # three columns: it fits a page

    # "i am waiting for": the product of the counted factors shown in the table
    steps = tables["sentence_probability"]["rows"]
    assert [s["w_n"] for s in steps] == ["i", "am", "waiting", "for"]
    for s in steps:
        assert s["P(w_n | w_(n-1))"] == pytest.approx(s["C(w_(n-1) w_n)"] / s["C(w_(n-1))"])
    assert m["P(i am waiting for) bigram MLE"] == pytest.approx(np.prod([s["P(w_n | w_(n-1))"] for s in steps]))

    # MLE meets an unseen pair on dev (inf); smoothing fixes it; longer contexts help KN
    bigram = {r["bigram"]: r for r in tables["bigram_loss"]["rows"]}
    assert bigram["MLE"]["train"] <= bigram["add-1"]["train"]
    assert math.isfinite(bigram["add-1"]["dev"]) and math.isfinite(bigram["Kneser-Ney"]["dev"])
    for name in ("names_loss_vs_n", "text_loss_vs_n"):
        rows = {r["n"]: r for r in tables[name]["rows"]}
        assert sorted(rows) == [1, 2, 3, 4, 5, 6]
        assert rows[1]["KN dev"] > rows[2]["KN dev"] > rows[3]["KN dev"]
        assert min(r["KN dev"] for r in rows.values()) <= min(r["add-k dev"] for r in rows.values())
        assert all(r["KN dev perplexity"] == pytest.approx(math.exp(r["KN dev"]), rel=1e-6) for r in rows.values())
        assert rows[6]["KN train"] < rows[1]["KN train"]
    assert m["names KN 5-gram dev loss"] < m["names bigram add-1 dev loss"]
