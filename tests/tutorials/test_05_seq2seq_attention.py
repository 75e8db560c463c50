"""Lesson 5 runs end to end in fast mode and reports what it says it reports."""
import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_05_seq2seq_attention_fast(run_lesson, claims_of):
    result = run_lesson("tutorials/05_seq2seq_attention.py")
    assert result["fast"] is True and result["name"] == "05_seq2seq_attention"
    m = result["metrics"]
    out = result["out_dir"]
    for figure in ("accuracy_vs_length", "attention_heatmap"):
        assert (out / f"{figure}.png").stat().st_size > 0
    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}

    # the four models trained for the same number of updates; attention has more parameters
    training = {r["model"]: r for r in tables["training"]}
    assert set(training) == {"plain", "reversed", "attention", "transformer"}
    assert len({r["updates"] for r in training.values()}) == 1
    assert training["plain"]["parameters"] == training["reversed"]["parameters"] < training["attention"]["parameters"]

    # the by-length table: buckets partition the test set, the "all" row is their weighted mean
    rows = tables["accuracy_by_length"]
    buckets, overall = rows[:-1], rows[-1]
    assert overall["source length"] == "all"
    assert sum(r["n"] for r in buckets) == overall["n"] == 60
    for variant in ("plain", "reversed", "attention", "transformer"):
        weighted = sum(r[f"{variant} exact"] * r["n"] for r in buckets) / overall["n"]
        assert overall[f"{variant} exact"] == pytest.approx(weighted)
        assert m[f"{variant} exact match"] == overall[f"{variant} exact"]
        assert 0.0 <= m[f"{variant} token accuracy"] <= 1.0

    # the heat map shows a probability distribution over the source for each output token
    assert m["heat map: largest |sum of a row's weights - 1|"] < 1e-5
    beam = {r["model"]: r for r in tables["beam_search"]}
    assert set(beam) == {"plain", "reversed", "attention", "transformer"}

    # the claims over seeds (the other seed ran the lesson in a process of its own)
    claims = claims_of(result, 2)
    assert claims["reversing the source helps the plain seq2seq (token accuracy, all lengths)"]["test"].startswith(
        "reversed - plain ")
    assert any(c.startswith("attention holds on long inputs") and v["test"].endswith("> 0.1") for c, v in claims.items())
