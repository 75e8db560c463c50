"""n-gram models against hand-worked values and a slow dictionary implementation of the formulas."""
import itertools
import math
import os
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.data.splits import makemore_split, names_to_stream
from minigrad_models.ngram import NGramLM, estimate_discounts, tokenize_words

DATA = Path(os.environ.get("MINIGRAD_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
# measured with this implementation (see tutorials/02_ngrams.py): KN 5-gram, makemore dev split
NAMES_KN5_DEV = 1.9908

# Jurafsky & Martin, Speech and Language Processing, section 3.1: the "I am Sam" corpus
SAM = [["i", "am", "sam"], ["sam", "i", "am"], ["i", "do", "not", "like", "green", "eggs", "and", "ham"]]


# ----------------------------------------------------------------------------- MLE by hand
def test_bigram_mle_matches_the_textbook_values():
    lm = NGramLM(2, "mle", boundary="<s>").fit(SAM)
    # C(<s> i) = 2 of the 3 sentence starts; C(i am) = 2 of 3 "i"; C(am sam) = 1 of 2 "am" ...
    assert lm.prob("i", []) == pytest.approx(2 / 3)
    assert lm.prob("sam", []) == pytest.approx(1 / 3)
    assert lm.prob("am", ["i"]) == pytest.approx(2 / 3)
    assert lm.prob("do", ["i"]) == pytest.approx(1 / 3)
    assert lm.prob("sam", ["am"]) == pytest.approx(1 / 2)
    assert lm.prob("<s>", ["sam"]) == pytest.approx(1 / 2)  # P(</s> | sam)
    assert lm.count(["i", "am"]) == 2 and lm.count(["am"]) == 2 and lm.count(["ham", "<s>"]) == 1
    # P(<s> i am sam </s>) = 2/3 * 2/3 * 1/2 * 1/2
    assert lm.sentence_probability("I am Sam", end=True) == pytest.approx(2 / 3 * 2 / 3 * 1 / 2 * 1 / 2)
    assert lm.sentence_probability("i am sam") == pytest.approx(2 / 3 * 2 / 3 * 1 / 2)


def test_unigram_mle_is_count_over_tokens():
    tokens = [w for s in SAM for w in s]  # 14 tokens, "i" three times
    lm = NGramLM(1, "mle").fit(tokens)
    assert lm.prob("i") == pytest.approx(3 / 14)
    assert lm.prob("ham") == pytest.approx(1 / 14)
    assert lm.counts().sum() == 14


def test_char_counts_match_a_counter_of_makemore_bigrams():
    names = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "ava"]
    expected = Counter()
    for w in names:
        chs = "." + w + "."
        expected.update(zip(chs, chs[1:]))
    lm = NGramLM(2, "mle", boundary=".").fit(names)
    assert lm.vocab[0] == "."  # makemore's stoi: '.' -> 0, letters after it
    for a, b in itertools.product(lm.vocab, repeat=2):
        assert lm.count(a + b) == expected[(a, b)]
        row = lm.counts(a)
        assert row[lm.vocab.index(b)] == expected[(a, b)]
    total_after_a = sum(c for (x, _), c in expected.items() if x == "a")
    assert lm.prob(".", "a") == pytest.approx(expected[("a", ".")] / total_after_a)


def test_names_stream_gives_the_same_bigram_counts_as_padded_names():
    names = ["emma", "olivia", "ava", "bo"]
    padded = NGramLM(2, "mle", boundary=".").fit(names)
    stream = NGramLM(2, "mle").fit(names_to_stream(names))
    assert names_to_stream(names) == ".emma.olivia.ava.bo."
    for a in padded.vocab:
        np.testing.assert_array_equal(padded.counts(a), stream.counts(a))
    with pytest.raises(ValueError, match="boundary"):
        names_to_stream(["a.b"])


def test_add_k_by_hand():
    lm = NGramLM(2, "add_k", k=0.5).fit("aab")  # bigrams aa, ab; V = 2
    assert lm.prob("a", "a") == pytest.approx((1 + 0.5) / (2 + 0.5 * 2))
    assert lm.prob("a", "b") == pytest.approx(0.5 / (0 + 1.0))  # unseen context: uniform
    # the first token has no history: scored by the add-k unigram, (C(a) + k) / (N + kV)
    lp = lm.log_probs("ab")
    assert lp[0] == pytest.approx(math.log((2 + 0.5) / (3 + 1.0)))
    assert lp[1] == pytest.approx(math.log((1 + 0.5) / (2 + 1.0)))


# ----------------------------------------------------------------------------- Kneser-Ney by hand
def test_kneser_ney_bigram_on_a_stream_by_hand():
    lm = NGramLM(2, "kn", discounts=0.5).fit("aab")
    # top order, raw counts: C(aa) = C(ab) = 1, context "a": total 2, gamma = (0.5 + 0.5) / 2.
    # unigram continuation counts: a is preceded by {a} once and also opens the stream (raw 1):
    # a(a) = 2, a(b) = |{a}| = 1, total 3, gamma_1 = 1/3, P_0 = 1/2.
    p1_a = (2 - 0.5) / 3 + (1 / 3) * 0.5
    p1_b = (1 - 0.5) / 3 + (1 / 3) * 0.5
    assert (p1_a, p1_b) == pytest.approx((2 / 3, 1 / 3))
    assert lm.prob("a", "a") == pytest.approx(0.5 / 2 + 0.5 * p1_a)  # 7/12
    assert lm.prob("b", "a") == pytest.approx(0.5 / 2 + 0.5 * p1_b)  # 5/12
    assert lm.prob("a", "b") == pytest.approx(p1_a)  # "b" never a context: back to P_1
    assert lm.probs("") == pytest.approx([p1_a, p1_b])


def test_kneser_ney_bigram_on_names_by_hand():
    lm = NGramLM(2, "kn", boundary=".", discounts=0.5).fit(["ab", "b"])  # ".ab." ".b."
    # continuation counts: a after {.}, b after {a, .}, "." after {b}: 1, 2, 1 of 4; gamma_1 = 1.5/4
    p1 = {".": 0.5 / 4 + 1.5 / 4 / 3, "a": 0.5 / 4 + 1.5 / 4 / 3, "b": 1.5 / 4 + 1.5 / 4 / 3}
    assert sum(p1.values()) == pytest.approx(1)
    assert lm.prob("a", "") == pytest.approx(0.5 / 2 + 0.5 * p1["a"])  # 0.375
    assert lm.prob("b", "a") == pytest.approx(0.5 / 1 + 0.5 * p1["b"])  # 0.75
    assert lm.prob(".", "ab") == pytest.approx(1.5 / 2 + 0.25 * p1["."])  # 0.8125
    assert lm.sentence_probability("ab", end=True) == pytest.approx(0.375 * 0.75 * 0.8125)
    assert lm.cross_entropy(["ab"]) == pytest.approx(-math.log(0.375 * 0.75 * 0.8125) / 3)


def test_discount_estimates_by_hand():
    adjusted = np.array([1, 1, 1, 1, 2, 2, 3, 4, 9])  # n1..n4 = 4, 2, 1, 1
    (d1, d2, d3), ok = estimate_discounts(adjusted)
    # Y = 4 / (4 + 2*2) = 0.5; D1 = 1 - 2Y n2/n1; D2 = 2 - 3Y n3/n2; D3+ = 3 - 4Y n4/n3
    assert ok and (d1, d2, d3) == pytest.approx((0.5, 1.25, 1.0))
    (y, _, _), ok = estimate_discounts(adjusted, modified=False)
    assert ok and y == pytest.approx(0.5)
    assert estimate_discounts(np.array([5, 6, 7]))[1] is False  # no singletons: fallback


def reference_kneser_ney(seqs, n, boundary, discount, vocab):
    """The docstring's formulas with dictionaries and loops, one occurrence at a time."""
    pad = n - 1 if boundary is not None else 0
    occurrences = []  # (tokens of the sequence, target position, number of padding tokens)
    for s in seqs:
        toks = [boundary] * pad + list(s) + ([boundary] if boundary is not None else [])
        occurrences += [(toks, i, pad) for i in range(pad, len(toks))]
    counts = [Counter() for _ in range(n + 1)]
    left = [dict() for _ in range(n + 1)]
    for toks, i, pad_ in occurrences:
        for m in range(1, n + 1):
            if i - m + 1 < 0:
                continue
            g = tuple(toks[i - m + 1 : i + 1])
            counts[m][g] += 1
            extendable = i - m >= 0 and i - m + 1 >= pad_
            left[m].setdefault(g, Counter())[toks[i - m] if extendable else ("alone", id(toks), i)] += 1
    adjusted = [None] + [{g: len(c) for g, c in left[m].items()} for m in range(1, n)] + [dict(counts[n])]

    def prob(w, history):
        p = 1 / len(vocab)
        for m in range(1, min(len(history) + 1, n) + 1):
            h = tuple(history[len(history) - (m - 1) :]) if m > 1 else ()
            a = {v: adjusted[m].get(h + (v,), 0) for v in vocab}
            total = sum(a.values())
            if total == 0:
                continue
            gamma = sum(min(discount, c) for c in a.values() if c > 0)
            p = max(a[w] - discount, 0) / total + gamma / total * p
        return p

    def add_k_prob(w, history, k):
        m = min(len(history) + 1, n)
        h = tuple(history[len(history) - (m - 1) :]) if m > 1 else ()
        c_h = sum(counts[m][h + (v,)] for v in vocab)
        return (counts[m][h + (w,)] + k) / (c_h + k * len(vocab))

    prob.add_k = add_k_prob
    return prob


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 4),
    with_boundary=st.booleans(),
    train=st.lists(st.text("abc", min_size=1, max_size=7), min_size=1, max_size=5),
    held_out=st.text("abc", min_size=1, max_size=6),
)
def test_kneser_ney_and_add_k_match_the_slow_reference(n, with_boundary, train, held_out):
    boundary = "." if with_boundary else None
    data = train if with_boundary else "".join(train)
    lm = NGramLM(n, "kn", boundary=boundary, discounts=0.6).fit(data, vocab="abc")
    ref = reference_kneser_ney(train if with_boundary else [data], n, boundary, 0.6, lm.vocab)
    for seq in [held_out, train[0]]:
        toks = ([boundary] * (n - 1) if with_boundary else []) + list(seq) + ([boundary] if with_boundary else [])
        first = n - 1 if with_boundary else 0
        expected = [math.log(ref(toks[i], toks[max(0, i - n + 1) : i])) for i in range(first, len(toks))]
        got = lm.log_probs([seq] if with_boundary else seq)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
        # prob(token, sequence so far) walks the other code path (whole distributions)
        real = list(seq) + ([boundary] if with_boundary else [])
        np.testing.assert_allclose([lm.prob(t, seq[:i]) for i, t in enumerate(real)], np.exp(expected), rtol=1e-10)
        add_k = NGramLM(n, "add_k", k=0.3, boundary=boundary).fit(data, vocab="abc")
        expected_k = [math.log(ref.add_k(toks[i], toks[max(0, i - n + 1) : i], 0.3)) for i in range(first, len(toks))]
        np.testing.assert_allclose(add_k.log_probs([seq] if with_boundary else seq), expected_k, rtol=1e-10)


@pytest.mark.parametrize("smoothing", ["mle", "add_k", "kneser_ney"])
@pytest.mark.parametrize("boundary", [None, "."])
def test_every_context_sums_to_one(smoothing, boundary):
    train = ["abca", "bb", "cab", "a"]
    data = train if boundary else "".join(train)
    lm = NGramLM(3, smoothing, k=0.3, boundary=boundary).fit(data, vocab="abcd")  # d: never seen
    for length in range(0, 3):
        for ctx in itertools.product(lm.vocab, repeat=length):  # seen and unseen contexts
            p = lm.probs("".join(ctx))
            assert p.shape == (len(lm.vocab),) and (p >= 0).all()
            assert p.sum() == pytest.approx(1.0, abs=1e-12)
            if smoothing != "mle":
                assert (p > 0).all()


def test_uniform_model_has_perplexity_vocab_size():
    lm = NGramLM(1, "mle").fit("abcd" * 5)  # every token 5 times: P = 1/4
    assert lm.perplexity("dcbaab") == pytest.approx(4.0)
    # with a huge k every estimate flattens to 1/V
    flat = NGramLM(3, "add_k", k=1e12, boundary=".").fit(["abc", "cab"])
    assert flat.perplexity(["cabba"]) == pytest.approx(len(flat.vocab), rel=1e-6)


def test_kn_beats_add_one_and_longer_contexts_help_on_structured_text():
    text = "the cat sat on the mat. " * 30 + "the dog sat on the log. " * 30
    train, held = text[: int(0.9 * len(text))], text[int(0.9 * len(text)) :]
    ce = {n: NGramLM(n, "kn").fit(train).cross_entropy(held) for n in (1, 2, 4)}
    assert ce[4] < ce[2] < ce[1]
    assert NGramLM(4, "kn").fit(train).cross_entropy(held) < NGramLM(4, "add_k").fit(train).cross_entropy(held)


# ----------------------------------------------------------------------------- sampling
def test_sampling_is_reproducible_for_a_seed():
    names = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]
    lm = NGramLM(3, "kn", boundary=".").fit(names)
    a = lm.sample(20, seed=7)
    assert a == lm.sample(20, seed=7)
    assert a != lm.sample(20, seed=8)
    assert all("." not in s and set(s) <= set(lm.vocab) for s in a)
    # the generator is consumed, as torch.Generator is: a second draw continues the stream
    g = np.random.default_rng(3)
    first, second = lm.sample(5, generator=g), lm.sample(5, generator=g)
    assert first == lm.sample(5, seed=3) and second != first
    # a stream model grows its context as it goes: MLE on a cycle continues the cycle
    cycle = NGramLM(3, "mle").fit("abcd" * 20)
    for s in cycle.sample(10, seed=1, max_length=12):
        assert s in "abcd" * 4
    stream = NGramLM(4, "kn").fit("abracadabra " * 10)
    out = stream.sample(2, seed=0, max_length=30, prompt="abra")
    assert [len(s) for s in out] == [30, 30]


def test_mle_sampling_follows_the_counts():
    lm = NGramLM(2, "mle", boundary=".").fit(["ab"] * 3 + ["b"])  # P(a|.) = 3/4, P(b|a) = 1
    samples = lm.sample(4000, seed=0)
    assert set(samples) <= {"ab", "b"}  # MLE never leaves the seen bigrams
    assert samples.count("ab") / 4000 == pytest.approx(0.75, abs=0.03)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_errors():
    for n in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            NGramLM(n)
    with pytest.raises(ValueError, match="unknown smoothing"):
        NGramLM(2, "good-turing")
    with pytest.raises(ValueError, match="k > 0"):
        NGramLM(2, "add_k", k=0)
    with pytest.raises(ValueError, match="discounts"):
        NGramLM(2, discounts=(0.5, 3.0, 1.0))
    with pytest.raises(RuntimeError, match="not been fitted"):
        NGramLM(2).cross_entropy("ab")
    with pytest.raises(ValueError, match="no training tokens"):
        NGramLM(2).fit("")
    lm = NGramLM(2, "mle").fit("abab")
    with pytest.raises(ValueError, match=r"outside the vocabulary.*'z'"):
        lm.cross_entropy("abz")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        lm.prob("z", "a")
    with pytest.raises(TypeError, match="list of sequences"):
        NGramLM(2, boundary=".").fit("emma")
    with pytest.raises(TypeError, match="character model"):
        lm.cross_entropy(["a", "b"])
    with pytest.raises(ValueError, match="beyond int64"):
        NGramLM(5).fit(list(range(20000)))


def test_mle_gives_zero_probability_and_infinite_loss_to_unseen_ngrams():
    lm = NGramLM(2, "mle").fit("abab")
    assert lm.prob("a", "a") == 0.0
    assert lm.cross_entropy("aab") == math.inf  # "aa" was never seen: documented inf
    assert lm.perplexity("aab") == math.inf
    assert NGramLM(2, "kn").fit("abab").cross_entropy("aab") < math.inf


def test_tokenize_words():
    assert tokenize_words("I am waiting for the bus, I'm late.") == [
        "i", "am", "waiting", "for", "the", "bus", ",", "i'm", "late", "."]


def test_integer_tokens():
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5] * 4)
    lm = NGramLM(3, "kn").fit(ids)
    assert lm.vocab == [1, 2, 3, 4, 5, 6, 9]
    assert lm.count([1, 4]) == 4
    assert lm.probs([3, 1]).sum() == pytest.approx(1.0)
    assert all(set(s) <= set(lm.vocab) and len(s) == 10 for s in lm.sample(3, seed=0, max_length=10))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lm.cross_entropy(np.array([1, 7]))


# ----------------------------------------------------------------------------- the makemore split
def test_makemore_split_sizes_and_permutation():
    words = [f"name{i}" for i in range(32033)]
    train, dev, test = makemore_split(words)
    assert (len(train), len(dev), len(test)) == (25626, 3203, 3204)
    lecture = list(words)  # the lecture's own lines
    random.seed(42)
    random.shuffle(lecture)
    assert train + dev + test == lecture
    assert words[:2] == ["name0", "name1"]  # the caller's list is not shuffled
    with pytest.raises(TypeError, match="splitlines"):
        makemore_split("emma\nolivia")


needs_names = pytest.mark.skipif(not (DATA / "names.txt").exists(), reason=f"names.txt not found in {DATA}")


@needs_names
def test_names_split_and_bigram_match_the_lecture():
    words = (DATA / "names.txt").read_text().splitlines()
    assert len(words) == 32033
    train, dev, test = makemore_split(words)
    assert (len(train), len(dev), len(test)) == (25626, 3203, 3204)
    # makemore part 1 prints 2.4541 (MLE) and 2.4544 (N+1) on all names, summing float32 log-probs;
    # in float64 the same models give 2.45401 and 2.45458
    assert NGramLM(2, "mle", boundary=".").fit(words).cross_entropy(words) == pytest.approx(2.4541, abs=3e-4)
    assert NGramLM(2, "add_k", boundary=".").fit(words).cross_entropy(words) == pytest.approx(2.4544, abs=3e-4)


@needs_names
def test_kneser_ney_5gram_on_names_dev():
    train, dev, _ = makemore_split((DATA / "names.txt").read_text().splitlines())
    dev_loss = NGramLM(5, "kneser_ney", boundary=".").fit(train).cross_entropy(dev)
    assert dev_loss < 2.1
    assert dev_loss == pytest.approx(NAMES_KN5_DEV, abs=0.05)
