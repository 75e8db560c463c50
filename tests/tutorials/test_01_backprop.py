"""Lesson 1 runs in fast mode, and its numbers say what the lesson claims: the hand-worked
chain rule, minigrad's backward and finite differences agree; gradcheck passes on the right
derivative and catches the wrong one; the matrix-form layer gradients match; gradient
descent lowers the loss; the second derivative of tanh matches its formula."""
import math

import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_01_fast(run_lesson):
    result = run_lesson("tutorials/01_backprop.py")
    assert result["fast"] is True and result["name"] == "01_backprop"
    m = result["metrics"]
    out = result["out_dir"]

    # the loss, worked independently here: L = (tanh(w x + b) - y)^2 + 0.1 w^2 at x=1.5, w=-0.8, b=0.4, y=0.5
    assert m["scalar: loss"] == pytest.approx((math.tanh(-0.8 * 1.5 + 0.4) - 0.5) ** 2 + 0.1 * 0.64, rel=1e-12)
    assert m["scalar: max |hand - minigrad|"] < 1e-12
    assert m["scalar: max |backprop - finite difference|"] < 1e-8
    assert m["scalar: gradcheck passed"] is True
    assert m["scalar: gradcheck caught the wrong derivative"] is True
    assert m["layer: max |hand - minigrad|"] < 1e-12
    assert m["layer: gradcheck passed"] is True
    assert m["descent: last loss"] < 0.1 * m["descent: first loss"]
    assert m["second derivative: |minigrad - formula|"] < 1e-12

    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}
    dw = next(r for r in tables["hand_vs_minigrad"] if r["gradient"] == "dL/dw")
    # dL/dw = 2 (h - y)(1 - h^2) x + 2 * 0.1 * w: both paths into w, summed
    h = math.tanh(-0.8 * 1.5 + 0.4)
    assert dw["minigrad"] == pytest.approx(2 * (h - 0.5) * (1 - h * h) * 1.5 + 0.2 * -0.8, rel=1e-12)
    assert len(tables["hand_vs_minigrad"]) == 9

    assert (out / "descent.png").stat().st_size > 0
    graphs = [item for item in result["items"] if item["kind"] == "graph"]
    try:
        import graphviz  # noqa: F401
    except ImportError:  # the lesson says how to get the drawings and goes on
        assert graphs == []
        return
    assert [g["name"] for g in graphs] == ["expression", "layer"]
    for g in graphs:  # an svg where the dot program is installed, its DOT source otherwise
        assert (out / g["path"]).stat().st_size > 0
