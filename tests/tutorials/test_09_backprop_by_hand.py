"""Lesson 9 runs in fast mode and its numbers say what the lesson claims: every hand-written
intermediate gradient equals minigrad's (26 of them, to rounding), the one-line cross-entropy and
batch-norm formulas equal minigrad's fused layers, training with the hand-written gradients follows
autograd's updates, and the tiny graph is drawn with a gradient on every tensor."""
import math

import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_09_fast(run_lesson):
    result = run_lesson("tutorials/09_backprop_by_hand.py")
    assert result["fast"] is True and result["name"] == "09_backprop_by_hand"
    m = result["metrics"]
    out = result["out_dir"]

    assert m["intermediates compared"] == 26
    assert m["max |by hand - minigrad|, all intermediates"] < 1e-12
    assert m["fused cross-entropy: max |difference|"] < 1e-12
    assert m["fused batch norm: max |difference|"] < 1e-12
    assert m["layers vs steps: |loss difference|"] < 1e-12
    assert m["weights after 20 steps: max |manual - autograd|"] < 1e-10
    # at initialisation the loss is near ln 27 (small output weights), and a little training lowers it
    assert abs(m["loss of the first batch"] - math.log(27)) < 0.5
    assert m["train loss, mean of the last 100 batches"] < m["train loss, first batch"]
    assert m["dev loss"] < math.log(27)
    assert m["tiny graph: tensors with a gradient"] == 19 + 7  # every intermediate and every parameter

    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}
    rows = {r["gradient"]: r for r in tables["manual_vs_minigrad"]}
    assert {"dlogits", "dhprebn", "dbnvar_inv", "dC", "dW1", "demb"} <= set(rows)
    assert all(r["exact"] for r in rows.values())
    assert rows["dC"]["shape"] == "(27, 10)"
    for figure in ("manual_vs_minigrad", "training_by_hand"):
        assert (out / f"{figure}.png").stat().st_size > 0
    graphs = [item for item in result["items"] if item["kind"] == "graph"]
    try:
        import graphviz  # noqa: F401
    except ImportError:
        assert graphs == []
        return
    assert [g["name"] for g in graphs] == ["tiny_mlp_graph"]
    drawn = (out / graphs[0]["path"]).read_text()
    for name in ("bnvar_inv", "counts_sum_inv", "logprobs", "bngain"):
        assert name in drawn
    assert drawn.count("grad ") >= 26  # a gradient on every tensor box
