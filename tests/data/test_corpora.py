import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import builtin_names, builtin_text, get_batch, load_text, train_val_split

DATA = Path(os.environ.get("MINIGRAD_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
needs_data = pytest.mark.skipif(not (DATA / "names.txt").exists(), reason=f"corpora not found in {DATA}; set MINIGRAD_DATA")


def heldout_cross_entropy(train: list, test: list, order: int, k: float = 0.1) -> float:
    """Add-k smoothed n-gram model of `order`, mean negative log-likelihood on `test` (nats)."""
    vocab_size = len(set(train) | set(test))
    pad = ["<s>"] * (order - 1)
    counts, context_counts = Counter(), Counter()
    seq = pad + train
    for i in range(order - 1, len(seq)):
        context = tuple(seq[i - order + 1:i])
        counts[context + (seq[i],)] += 1
        context_counts[context] += 1
    seq = pad + test
    total = 0.0
    for i in range(order - 1, len(seq)):
        context = tuple(seq[i - order + 1:i])
        total -= math.log((counts[context + (seq[i],)] + k) / (context_counts[context] + k * vocab_size))
    return total / len(test)


# ---------------------------------------------------------------------- files
def test_load_text_reads_a_path_and_a_bare_name(tmp_path, monkeypatch):
    (tmp_path / "tinyshakespeare.txt").write_text("First Citizen:\n", encoding="utf-8")
    (tmp_path / "poems.txt").write_text("roses", encoding="utf-8")
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert load_text(tmp_path / "poems.txt") == "roses"
    assert load_text("tinyshakespeare") == "First Citizen:\n"
    assert load_text("poems") == "roses"


def test_load_text_missing_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "names.txt"))) as err:
        load_text("names")
    assert "MINIGRAD_DATA" in str(err.value)
    monkeypatch.delenv("MINIGRAD_DATA")
    with pytest.raises(FileNotFoundError, match="MINIGRAD_DATA is not set.*export MINIGRAD_DATA"):
        load_text("names")


@needs_data
def test_real_corpora_match_their_readme(monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(DATA))
    names = load_text("names").splitlines()
    assert len(names) == 32033 and names[:3] == ["emma", "olivia", "ava"]
    text = load_text("tinyshakespeare")
    train, val = train_val_split(text, 0.9)
    assert (len(train), len(val)) == (1_003_854, 111_540)  # nanoGPT's shakespeare_char numbers


def test_train_val_split_keeps_order():
    train, val = train_val_split(list(range(10)), 0.7)
    assert train == [0, 1, 2, 3, 4, 5, 6] and val == [7, 8, 9]
    a, b = train_val_split(np.arange(5), 0.5)
    np.testing.assert_array_equal(a, [0, 1])
    np.testing.assert_array_equal(b, [2, 3, 4])
    with pytest.raises(ValueError, match="frac"):
        train_val_split("abc", 1.0)


# ---------------------------------------------------------------------- batches
def test_get_batch_targets_are_inputs_shifted_by_one():
    data = np.arange(100, 200)  # every window is identified by its first value
    x, y = get_batch(data, block_size=8, batch_size=16, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (16, 8) and x.dtype == y.dtype == np.int64
    starts = x[:, 0] - 100
    np.testing.assert_array_equal(x, 100 + starts[:, None] + np.arange(8))
    np.testing.assert_array_equal(y, x + 1)


def test_get_batch_reaches_every_start_and_never_runs_past_the_end():
    data = np.arange(12)
    x, y = get_batch(data, block_size=4, batch_size=2000, rng=1)
    # starts 0..7: the last window's target ends on the last token (index 11)
    assert set(x[:, 0].tolist()) == set(range(8))
    assert y.max() == 11


def test_get_batch_is_deterministic_for_a_seed_and_checks_input():
    data = np.arange(50)
    a = get_batch(data, 5, 4, rng=7)
    b = get_batch(data, 5, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], get_batch(data, 5, 4, rng=8)[0])
    with pytest.raises(ValueError, match="block_size=5"):
        get_batch(np.arange(5), 5, 2)
    with pytest.raises(ValueError, match="integer token ids"):
        get_batch(np.zeros(10), 2, 2)


# ---------------------------------------------------------------------- built-in corpora
def test_builtin_names_are_deterministic_and_name_like():
    names = builtin_names(3000, seed=0)
    assert names == builtin_names(3000, seed=0)
    assert names != builtin_names(3000, seed=1)
    assert builtin_names(100, seed=0) == names[:100]  # a prefix of the longer list
    assert all(re.fullmatch(r"[a-z]{2,12}", name) for name in names)
    assert len(set(names)) > 0.6 * len(names)  # mostly distinct, some repeats, like names.txt


def test_builtin_names_have_structure_a_char_bigram_learns():
    names = builtin_names(4000, seed=0)
    stream = list(".".join(names) + ".")  # '.' marks both ends, as in makemore
    cut = int(0.9 * len(stream))
    unigram = heldout_cross_entropy(stream[:cut], stream[cut:], 1)
    bigram = heldout_cross_entropy(stream[:cut], stream[cut:], 2)
    trigram = heldout_cross_entropy(stream[:cut], stream[cut:], 3)
    assert unigram < math.log(27) - 0.3  # letters are not uniform
    assert bigram < unigram - 0.4 and trigram < bigram - 0.1


def test_builtin_text_is_exact_length_deterministic_and_english_like():
    text = builtin_text(50_000, seed=0)
    assert len(text) == 50_000 and text == builtin_text(50_000, seed=0)
    assert text != builtin_text(50_000, seed=1)
    assert builtin_text(1000, seed=0) == text[:1000]
    words = re.findall(r"[a-z]+", text.lower())
    assert 200 <= len(set(words)) <= 700  # a few hundred distinct words
    top = [w for w, _ in Counter(words).most_common(5)]
    assert top[0] == "the"
    sentences = re.split(r"(?<=\.) ", text.replace("\n", " "))[:-1]
    assert all(s[0].isupper() and s.endswith(".") for s in sentences if s)


def test_builtin_text_char_models_gain_with_each_longer_context():
    text = builtin_text(100_000, seed=0)
    chars = list(text)
    cut = int(0.9 * len(chars))
    ce = [heldout_cross_entropy(chars[:cut], chars[cut:], n, k=0.01) for n in (1, 2, 3, 4)]
    assert ce[0] > ce[1] + 0.5 and ce[1] > ce[2] + 0.5 and ce[2] > ce[3] + 0.2, ce


def test_builtin_text_word_bigram_beats_unigram():
    words = re.findall(r"\w+|[^\w\s]", builtin_text(150_000, seed=0).lower())
    cut = int(0.9 * len(words))
    unigram = heldout_cross_entropy(words[:cut], words[cut:], 1, k=0.01)
    bigram = heldout_cross_entropy(words[:cut], words[cut:], 2, k=0.01)
    assert bigram < unigram - 0.7, (unigram, bigram)


def test_negative_sizes_are_errors():
    with pytest.raises(ValueError, match="builtin_names"):
        builtin_names(-1)
    with pytest.raises(ValueError, match="builtin_text"):
        builtin_text(-5)
