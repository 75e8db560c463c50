"""Seq2seq: additive attention by hand and by finite differences, source reversal, teacher
forcing against step-by-step decoding, padding invariance, beam search, overfitting a few pairs,
and the accuracy-by-length evaluation."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.data.translation import TranslationTask
from minigrad_models.seq2seq import BOS_ID, AdditiveAttention, Seq2Seq, make_model, reverse_within_lengths
from minigrad_tutorials.recipes.seq2seq import evaluate, train

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def task():
    return TranslationTask(seed=0, lexicon_fraction=0.25)


def test_additive_attention_by_hand():
    """e_j = v^T tanh(W s + U h_j + b), a = softmax(e) over the real positions, c = sum_j a_j h_j."""
    attn = AdditiveAttention(query_size=2, key_size=3, attn_size=4).double()
    s = RNG.standard_normal((2, 2))
    h = RNG.standard_normal((2, 5, 3))
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    context, weights = attn(mg.tensor(s), mg.tensor(h), mg.tensor(mask))
    W, U, b, v = (attn.W.weight.numpy(), attn.U.weight.numpy(), attn.U.bias.numpy(), attn.v.numpy())
    for row in range(2):
        n = mask[row].sum()
        e = np.array([v @ np.tanh(W @ s[row] + U @ h[row, j] + b) for j in range(n)])
        a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        np.testing.assert_allclose(weights.numpy()[row, :n], a, rtol=1e-12)
        np.testing.assert_array_equal(weights.numpy()[row, n:], 0.0)
        np.testing.assert_allclose(context.numpy()[row], a @ h[row, :n], rtol=1e-12)


def test_additive_attention_gradients():
    attn = AdditiveAttention(2, 3, 4).double()
    mask = mg.tensor(np.array([[True, True, False], [True, True, True]]))

    def f(s, h):
        context, weights = attn(s, h, mask)
        return context, weights

    s = mg.tensor(RNG.standard_normal((2, 2)), requires_grad=True)
    h = mg.tensor(RNG.standard_normal((2, 3, 3)), requires_grad=True)
    assert mg.gradcheck(f, (s, h))


def test_reverse_within_lengths_keeps_padding_in_place():
    src = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    np.testing.assert_array_equal(reverse_within_lengths(src, [3, 2]), [[7, 6, 5, 0], [9, 8, 0, 0]])


def test_reversed_model_reads_the_reversed_source(task):
    mg.manual_seed(0)
    plain = make_model(task, "plain", embed_dim=8, hidden_size=8)
    rev = make_model(task, "reversed", embed_dim=8, hidden_size=8)
    rev.load_state_dict(plain.state_dict())
    batch = next(task.batches(task.sample(4, 5, 9, rng=1), 4))
    out_rev = rev(batch.src, batch.src_lengths, batch.tgt_in)
    out_plain = plain(reverse_within_lengths(batch.src, batch.src_lengths), batch.src_lengths, batch.tgt_in)
    np.testing.assert_allclose(out_rev.numpy(), out_plain.numpy(), atol=1e-6)
    # the task's own reversal agrees
    batch_r = next(task.batches(task.sample(4, 5, 9, rng=1), 4, reverse_source=True))
    np.testing.assert_array_equal(reverse_within_lengths(batch.src, batch.src_lengths), batch_r.src)


@pytest.mark.parametrize("variant", ["plain", "attention"])
def test_teacher_forcing_equals_step_by_step_decoding(task, variant):
    """forward (the training path) and decode_step (the decoding path) compute the same logits."""
    mg.manual_seed(0)
    model = make_model(task, variant, embed_dim=8, hidden_size=8, num_layers=2).double()
    batch = next(task.batches(task.sample(3, 5, 12, rng=2), 3))
    logits = model(batch.src, batch.src_lengths, batch.tgt_in).numpy()
    memory, state = model.encode(batch.src, batch.src_lengths)
    for i in range(batch.tgt_in.shape[1]):
        step_logits, state, _ = model.decode_step(batch.tgt_in[:, i], state, memory)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, i], atol=1e-10)


@pytest.mark.parametrize("variant", ["plain", "reversed", "attention"])
def test_extra_source_padding_changes_nothing(task, variant):
    mg.manual_seed(0)
    model = make_model(task, variant, embed_dim=8, hidden_size=8).double()
    batch = next(task.batches(task.sample(3, 5, 12, rng=3), 3))
    padded = np.pad(batch.src, ((0, 0), (0, 4)))
    a = model(batch.src, batch.src_lengths, batch.tgt_in).numpy()
    b = model(padded, batch.src_lengths, batch.tgt_in).numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_beam_of_one_is_greedy(task):
    mg.manual_seed(1)
    model = make_model(task, "attention", embed_dim=8, hidden_size=8)
    batch = next(task.batches(task.sample(4, 5, 10, rng=4), 4))
    assert model.beam_search(batch.src, batch.src_lengths, beam_size=1, max_len=12, alpha=0.0) == \
        model.greedy(batch.src, batch.src_lengths, max_len=12)


def test_overfits_a_few_pairs_and_decodes_them(task):
    """After training on six short pairs the model reproduces them, greedy and with a beam,
    and the evaluation reports exact matches."""
    pairs = task.sample(6, 5, 7, rng=5)
    mg.manual_seed(0)
    model = make_model(task, "attention", embed_dim=16, hidden_size=32)
    stats = train(model, task, pairs, steps=120, batch_size=6, lr=1e-2)
    assert stats["losses"][-1] < 0.05 < stats["losses"][0]
    batch = next(task.batches(pairs, 6))
    refs = [task.encode_tgt(t).tolist() for _, t in pairs]
    assert model.greedy(batch.src, batch.src_lengths) == refs
    assert model.beam_search(batch.src, batch.src_lengths, beam_size=3) == refs
    rows = evaluate(model, task, pairs)
    assert rows[-1] == {"source length": "all", "sentences": 6, "exact match": 1.0, "token accuracy": 1.0}


def test_evaluate_counts_by_bucket(task, monkeypatch):
    """A model whose output is the reference with its last token dropped: exact match 0, token
    accuracy (len - 1) / len summed over the bucket."""
    pairs = task.sample(5, 5, 12, rng=6)
    model = Seq2Seq(len(task.src_vocab), len(task.tgt_vocab), embed_dim=4, hidden_size=4)
    refs = {tuple(task.encode_src(s)): task.encode_tgt(t).tolist() for s, t in pairs}

    def fake_greedy(src, lengths, **kw):
        return [refs[tuple(row[:n])][:-1] for row, n in zip(src, lengths)]

    monkeypatch.setattr(model, "greedy", fake_greedy)
    rows = evaluate(model, task, pairs, batch_size=2)
    all_row = rows[-1]
    ref_tokens = sum(len(r) for r in refs.values())
    assert all_row["exact match"] == 0.0
    assert all_row["token accuracy"] == pytest.approx((ref_tokens - 5) / ref_tokens)
    assert sum(r["sentences"] for r in rows[:-1]) == 5


def test_clear_errors(task):
    model = make_model(task, "plain", embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="one length per row"):
        model.encode(np.zeros((2, 3), dtype=np.int64), [3])
    with pytest.raises(IndexError, match="out of range"):
        model(np.full((1, 3), 10_000), [3], np.full((1, 2), BOS_ID))
