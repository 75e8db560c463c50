"""Lesson 7 runs end to end in fast mode, and what it shows holds: the three objectives score the
positions they claim, a fresh BERT starts at ln(V) and improves, bag-of-words is at chance on the
word-order task, MiniLM finds the paraphrases, and every model's training lowers its loss."""
import math

import pytest

from minigrad.data import builtin_text, find_minilm_dir

pytest.importorskip("matplotlib", reason="the lessons draw figures with matplotlib")


def test_lesson_07_bert_gpt_bart_fast(run_lesson, claims_of):
    result = run_lesson("tutorials/07_bert_gpt_bart.py")
    assert result["fast"] is True and result["name"] == "07_bert_gpt_bart"
    m = result["metrics"]
    out = result["out_dir"]
    tables = {item["name"]: item["rows"] for item in result["items"] if item["kind"] == "table"}
    for figure in ("attention_masks", "mlm_loss"):
        assert (out / f"{figure}.png").stat().st_size > 0

    # 1. objectives: BERT is scored on a few positions, GPT and BART on all of them
    rows = {r["model"]: r for r in tables["objectives"]}
    scored, total = map(int, rows["BERT"]["positions scored"].split("/"))
    assert 1 <= scored < total
    for model in ("GPT", "BART"):
        scored, total = map(int, rows[model]["positions scored"].split("/"))
        assert scored == total
    assert "[MASK]" in rows["BERT"]["input"] and "[MASK]" in rows["BART"]["input"]
    # infilling: one mask per span, so never more masks than hidden words plus empty spans
    assert m["BART: masks in its input"] >= 1 and m["BART: words hidden by infilling"] >= 1
    assert len(rows["BART"]["input"].split()) == (len(rows["GPT"]["input"].split()) + 1
                                                  - m["BART: words hidden by infilling"]
                                                  + m["BART: masks in its input"])

    # 2. GPT learns something about characters: below the uniform guess
    n_chars = len(set(builtin_text(200_000)))
    assert m["GPT: final val loss (nats/char)"] < math.log(n_chars)

    # 3. BERT: a fresh model is a uniform guess; training lowers the held-out loss
    assert m["BERT MLM: held-out loss before training"] == pytest.approx(math.log(m["BERT MLM: vocabulary"]),
                                                                          abs=0.3)
    assert m["BERT MLM: held-out loss after training"] < m["BERT MLM: held-out loss before training"] - 0.3
    assert len(tables["fill_in_the_blank"]) >= 3
    assert 0.35 <= m["word order: bag-of-words accuracy"] <= 0.65  # same bags of words in both classes
    assert 0.0 <= m["word order: BERT accuracy from MLM weights"] <= 1.0
    examples = tables["word_order_examples"]
    assert {r["label"] for r in examples} <= {0, 1}

    # 3c. real weights, when installed
    if find_minilm_dir() is not None:
        assert m["MiniLM: available"] is True
        assert m["MiniLM: parameters"] == 22_713_216  # all-MiniLM-L6-v2's BertModel, pooler included
        assert m["MiniLM: nearest neighbour is the paraphrase (of 10)"] >= 8
        assert (out / "minilm_similarity.png").stat().st_size > 0
    else:
        assert m["MiniLM: available"] is False

    # 4. BART: the loss falls, and the scores are well-formed
    first, last = map(float, m["BART: first/last training loss"].split(" -> "))
    assert last < first
    for key in ("exact match", "token accuracy", "infilled token accuracy"):
        assert 0.0 <= m[f"BART: {key}"] <= 1.0
    assert {"corrupted", "reconstruction", "original"} <= set(tables["bart_examples"][0])

    # the claim over seeds (the other seed ran the lesson in a process of its own)
    claim = claims_of(result, 1)["pre-trained BERT beats BERT from scratch (word-order accuracy)"]
    assert claim["measured"].startswith("MLM weights ") and "; scratch " in claim["measured"]
