"""The encoder-decoder Transformer on the translation task: padding is invisible, cached greedy
decoding equals decoding by full re-computation, the paper's learning-rate schedule by hand,
the by-length table on hand-made predictions, and a short run that learns."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.data.translation import BOS_ID, EOS_ID, PAD_ID, TranslationTask, length_bucket, length_buckets
from minigrad_models.transformer import Seq2SeqConfig, TransformerSeq2Seq
from minigrad_tutorials.recipes.transformer import (TrainConfig, evaluate_by_length, length_sorted_batches, noam_lr,
                                                    train_transformer)

SMALL = Seq2SeqConfig(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                      dropout=0.0, max_len=64)


@pytest.fixture(scope="module")
def task():
    return TranslationTask(seed=0, lexicon_fraction=0.2)


def small_model(task, **kw):
    mg.manual_seed(0)
    from dataclasses import replace

    return TransformerSeq2Seq.for_task(task, replace(SMALL, **kw))


def test_source_padding_is_invisible(task):
    model = small_model(task).eval()
    pairs = task.sample(4, 5, 12, rng=1)
    batch = next(task.batches(pairs, 4))
    logits = model(batch.src, batch.tgt_in).numpy()
    src = batch.src.copy()
    src[src == PAD_ID] = 7  # garbage where the padding was, still masked by src_key_padding_mask
    pad = batch.src == PAD_ID
    again = model(mg.tensor(src), batch.tgt_in, src_key_padding_mask=mg.tensor(pad)).numpy()
    np.testing.assert_allclose(again, logits, rtol=1e-5, atol=1e-5)
    # each sentence alone (no padding at all) gives the same logits as inside the batch
    for i, (s, _) in enumerate(pairs):
        one = next(task.batches([pairs[i]], 1))
        alone = model(one.src, one.tgt_in).numpy()[0]
        T = alone.shape[0]
        np.testing.assert_allclose(logits[i, :T], alone, rtol=1e-4, atol=1e-5)


def test_cached_greedy_decoding_equals_full_recomputation(task):
    model = small_model(task).eval()
    batch = next(task.batches(task.sample(3, 5, 15, rng=2), 3))
    fast = model.greedy_decode(batch.src, max_len=12)
    tokens = np.full((3, 1), BOS_ID)
    for _ in range(fast.shape[1]):  # re-run the whole decoder on the growing prefix each step
        logits = model(batch.src, tokens).numpy()
        tokens = np.concatenate([tokens, logits[:, -1].argmax(-1)[:, None]], 1)
    slow = tokens[:, 1:]
    for row_fast, row_slow in zip(fast, slow):
        n = next((i + 1 for i, t in enumerate(row_slow) if t == EOS_ID), len(row_slow))
        np.testing.assert_array_equal(row_fast[:n], row_slow[:n])
        assert np.all(row_fast[n:] == PAD_ID)


def test_noam_schedule_by_hand():
    d, warmup = 64, 100
    assert noam_lr(1, d, warmup) == pytest.approx(d ** -0.5 * warmup ** -1.5)
    assert noam_lr(50, d, warmup) == pytest.approx(50 * d ** -0.5 * warmup ** -1.5)  # linear warm-up
    assert noam_lr(warmup, d, warmup) == pytest.approx(d ** -0.5 * warmup ** -0.5)  # the peak
    assert noam_lr(400, d, warmup) == pytest.approx(noam_lr(100, d, warmup) / 2)  # then 1/sqrt(step)


def test_length_sorted_batches_cover_every_pair_once(task):
    pairs = task.sample(130, 5, 30, rng=3)
    seen = []
    for b in length_sorted_batches(task, pairs, 16, np.random.default_rng(0), pool=3):
        assert b.src.shape[0] <= 16
        seen += [tuple(task.decode_src(row)) for row in b.src]
    assert sorted(seen) == sorted(tuple(s) for s, _ in pairs)


class _Scripted:
    """Stands in for a model: answers each source with the reference, or garbles it when long."""

    def __init__(self, task, pairs, garble_from):
        self.answers = {tuple(task.encode_src(s)): (t, len(s) >= garble_from) for s, t in pairs}
        self.task = task

    def greedy_decode(self, src, max_len=None):
        rows = []
        for row in np.asarray(src.numpy() if hasattr(src, "numpy") else src):
            ref, garble = self.answers[tuple(int(t) for t in row if t != PAD_ID)]
            ids = list(self.task.encode_tgt(ref))
            if garble:
                ids[0] = ids[1]
            rows.append(ids + [EOS_ID] + [PAD_ID] * (60 - len(ids)))
        return np.array(rows)

    greedy = TransformerSeq2Seq.greedy  # the real conversion to minigrad_models.seq2seq's convention


def test_evaluate_by_length_on_scripted_answers(task):
    pairs = task.sample(60, 5, 40, rng=4)
    rows = {r["source length"]: r for r in evaluate_by_length(_Scripted(task, pairs, garble_from=20), task, pairs,
                                                               batch_size=7)}
    ref_tokens = {}
    for s, t in pairs:
        ref_tokens[length_bucket(len(s))] = ref_tokens.get(length_bucket(len(s)), 0) + len(t)
    for b in length_buckets():
        if b not in rows:
            continue
        if int(b.split("-")[0]) < 20:
            assert rows[b]["exact match"] == 1.0 and rows[b]["token accuracy"] == 1.0
        else:  # one wrong token in each sentence of the bucket
            assert rows[b]["exact match"] == 0.0
            assert rows[b]["token accuracy"] == pytest.approx(1 - rows[b]["sentences"] / ref_tokens[b])
    long_share = np.mean([len(s) >= 20 for s, _ in pairs])
    assert rows["all"]["exact match"] == pytest.approx(1 - long_share)


def test_a_short_run_learns(task):
    data = task.splits(400, 10, 10, min_len=5, max_len=8)
    tc = TrainConfig(steps=120, batch_size=32, warmup=20, lr_scale=0.5, label_smoothing=0.0, log_every=1000)
    model, history = train_transformer(task, data["train"], SMALL, tc, log=None)
    first, last = np.mean(history["loss"][:5]), np.mean(history["loss"][-5:])
    assert first > 0.8 * math.log(len(task.tgt_vocab)) and last < 0.4 * first
    assert len(history["lr"]) == 120 and history["lr"][19] > history["lr"][0]


def test_beam_search_with_a_reordered_cache_equals_rereading_prefixes(task):
    model = small_model(task).eval()
    batch = next(task.batches(task.sample(3, 5, 15, rng=5), 3))
    cached = model.beam_search(batch.src, beam_size=3, max_len=10)
    plain = model.beam_search(batch.src, beam_size=3, max_len=10, use_cache=False)
    assert cached == plain
    # a beam of one is greedy decoding
    assert model.beam_search(batch.src, beam_size=1, max_len=10) == model.greedy(batch.src, max_len=10)
