"""Lesson 6 runs in fast mode, and its numbers say what the lesson claims: attention hardens
into a lookup as scores sharpen (and the query's gradient vanishes), heads are per-slice
attentions, the causal mask hides the future, attention without positions ignores order, a
trained copier attends to the letter it copies, and cached generation matches uncached."""
import pytest

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_06_fast(run_lesson):
    result = run_lesson("tutorials/06_transformer.py")
    assert result["fast"] is True and result["name"] == "06_transformer"
    m = result["metrics"]
    out = result["out_dir"]
    for figure in ("soft_to_hard", "causal_mask", "sinusoidal_positions", "copy_attention"):
        assert (out / f"{figure}.png").stat().st_size > 0

    # 1. the weights move onto key 2 as the scale grows; the output becomes value 2
    rows = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}["soft_to_hard"]
    w2 = [r["w_2"] for r in rows]
    assert w2 == sorted(w2) and w2[-1] > 0.999
    assert all(abs(sum(r[f"w_{j}"] for j in range(4)) - 1) < 1e-9 for r in rows)
    assert m["lookup error at scale 64"] < 1e-6
    assert m["query gradient at scale 64"] < 1e-6 < m["query gradient at scale 1"]

    # 2-5. the identities the lesson demonstrates hold to rounding
    assert m["self-attention: max |numpy - fused|"] < 1e-6
    assert m["heads: max |MultiheadAttention - concat(per-head attention) W^O|"] < 1e-10
    assert m["causal: change in outputs 0..T-2 after changing the last token"] == 0.0
    assert m["causal: change in output T-1"] > 1e-3
    assert m["no positions: max |attn(X[perm]) - attn(X)[perm]|"] < 1e-10
    assert m["with positions: max |attn(X[perm] + PE) - attn(X + PE)[perm]|"] > 1e-2
    for dk in (4, 64, 512):
        key = next(k for k in m if k.startswith(f"std of q.k at d_k={dk} "))
        assert abs(m[key] / dk ** 0.5 - 1) < 0.1

    # 6-7. the trained copier copies, by reading the right source position
    assert m["copy task: accuracy on fresh strings"] > 0.95
    assert m["copy task: fraction of copy positions whose best head reads the right source"] >= 0.875
    assert m["KV cache: greedy tokens identical to the uncached path"] is True
    assert m["KV cache: generated copies equal the originals"] > 0.95
