"""Lesson 4 runs end to end in fast mode and its numbers say what the lesson claims."""
import math

import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_04_rnn_lstm_gru_fast(run_lesson, claims_of):
    from minigrad.data import builtin_names
    from minigrad.data.splits import makemore_split
    from minigrad_models.ngram import NGramLM

    result = run_lesson("tutorials/04_rnn_lstm_gru.py")
    assert result["fast"] is True and result["name"] == "04_rnn_lstm_gru"
    m = result["metrics"]
    out = result["out_dir"]
    for figure in ("training_curves", "gradient_vs_lag"):
        assert (out / f"{figure}.png").stat().st_size > 0

    # the lecture's GRU is PyTorch's with z negated exactly when the reset gate is open
    assert m["GRU forms agree (r = 1)"] < 1e-12
    assert m["GRU forms differ (r free)"] > 1e-3

    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}
    names = {r["model"]: r for r in tables["names_loss"]}
    text = {r["model"]: r for r in tables["text_loss"]}
    for cell in ("RNN", "LSTM", "GRU"):
        # a little training already beats guessing uniformly among the 27 symbols
        assert names[cell]["dev loss"] < math.log(27)
        assert names[cell]["steps"] == 60 and text[cell]["steps"] == 40
        assert math.isfinite(text[cell]["val loss"])
    # the n-gram rows are the lesson-2 models on the same split (recomputed here independently)
    train_w, dev_w, _ = makemore_split(builtin_names(2000))
    kn5 = NGramLM(5, boundary=".").fit(train_w).cross_entropy(dev_w)
    assert names["Kneser-Ney 5-gram"]["dev loss"] == pytest.approx(kn5, rel=1e-9)

    # gradients across time: the open forget gate carries the gradient, the vanilla RNN's vanishes
    lags = {r["model"]: r for r in tables["gradient_vs_lag"]}
    assert lags["LSTM, at init, forget bias +3"]["k = 20"] > 0.05
    assert lags["RNN, at init"]["k = 20"] < 1e-3
    assert lags["RNN, at init"]["k = 40"] < lags["RNN, at init"]["k = 20"] < lags["RNN, at init"]["k = 5"]
    assert m["LSTM forget bias +3, gradient at lag 20 / lag 0"] > 100 * m["RNN at init, gradient at lag 20 / lag 0"]

    # the claims over seeds (the other seed ran the lesson in a process of its own)
    claims = claims_of(result, 4)
    assert set(claims) == {"names: LSTM and GRU below the RNN (held-out nats/char)", "names: the RNN below the best n-gram",
                           "text: LSTM and GRU below the RNN (held-out nats/char)", "text: the RNN below the best n-gram"}
    assert claims["names: the RNN below the best n-gram"]["test"].startswith("RNN - Kneser-Ney ")
