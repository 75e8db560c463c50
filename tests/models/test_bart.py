"""BART without a reference library: the noising functions' promises and statistics, teacher
forcing, the position offset, causality, the cached decoder, gradients against finite
differences, checkpoints, and a short denoising run."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import io
from minigrad.data import builtin_text
from minigrad_models.bart import (IGNORE_INDEX, BART, BartConfig, shift_tokens_right, text_infilling,
                                  token_deletion, token_masking)
from minigrad_tutorials.recipes.bart import (char_tokenizer, decode_chars, denoising_batch, reconstruction_accuracy,
                                             special_ids, train_denoiser)

MASK = 3


# ---------------------------------------------------------------------- noising
def _undo_infilling(noised, spans, original):
    """Put each span of the original back where its mask stands."""
    out, k = [], 0
    for t in noised.tolist():
        if t == MASK:
            start, length = spans[k]
            out += original[start:start + length].tolist()
            k += 1
        else:
            out.append(t)
    assert k == len(spans)
    return out


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), ratio=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]), seed=st.integers(0, 10_000))
def test_text_infilling_replaces_each_span_by_one_mask(n, ratio, seed):
    original = np.arange(10, 10 + n)  # distinct ids, none of them the mask
    noised, spans = text_infilling(original, MASK, mask_ratio=ratio, rng=seed, return_spans=True)
    assert _undo_infilling(noised, spans, original) == original.tolist()
    assert sum(length for _, length in spans) == round(ratio * n)  # exactly the budget is hidden
    assert (noised == MASK).sum() == len(spans)
    assert not np.any((noised[1:] == MASK) & (noised[:-1] == MASK))  # spans never touch
    kept = noised[noised != MASK]
    assert np.all(np.diff(kept) > 0)  # the rest keeps its order


def test_text_infilling_span_lengths_are_poisson_3_with_empty_spans():
    lengths, inserted = [], 0
    rng = np.random.default_rng(0)
    original = np.arange(10, 110)
    for _ in range(400):
        noised, spans = text_infilling(original, MASK, mask_ratio=0.3, poisson_lambda=3.0, rng=rng,
                                       return_spans=True)
        lengths += [length for _, length in spans[:-1]]  # the last one is cut to fit the budget
        inserted += sum(length == 0 for _, length in spans)
    lengths = np.asarray(lengths)
    # the truncation biases which spans survive only slightly: compare with Poisson(3) itself
    assert lengths.mean() == pytest.approx(3.0, abs=0.15)
    assert lengths.var() == pytest.approx(3.0, abs=0.4)
    assert (lengths == 0).mean() == pytest.approx(math.exp(-3), abs=0.015)
    assert inserted > 0


def test_token_masking_and_deletion():
    rng = np.random.default_rng(1)
    ids = np.arange(10, 20010)
    masked = token_masking(ids, MASK, p=0.2, rng=rng)
    assert (masked == MASK).mean() == pytest.approx(0.2, abs=0.01)
    np.testing.assert_array_equal(masked[masked != MASK], ids[masked != MASK])
    kept = token_deletion(ids, p=0.2, rng=rng)
    assert len(kept) / len(ids) == pytest.approx(0.8, abs=0.01)
    assert np.all(np.isin(kept, ids)) and np.all(np.diff(kept) > 0)  # a subsequence, in order
    np.testing.assert_array_equal(token_deletion(ids, 0.3, rng=7), token_deletion(ids, 0.3, rng=7))  # seeded
    with pytest.raises(ValueError, match="text_infilling"):
        text_infilling(np.zeros((2, 3), dtype=np.int64), MASK)
    with pytest.raises(ValueError, match="token_masking"):
        token_masking(ids, MASK, p=1.5)


def test_denoising_batch_layout():
    tok = char_tokenizer("abcdefgh .")
    sp = special_ids(tok)
    assert (sp["bos"], sp["pad"], sp["eos"]) == (0, 1, 2)  # BART's convention
    input_ids, mask, labels, span_target = denoising_batch(["abc defgh.", "ab."], tok, np.random.default_rng(0))
    assert labels[0].tolist() == [0] + tok.encode("abc defgh.") + [2]
    assert labels[1].tolist()[:5] == [0] + tok.encode("ab.") + [2] and (labels[1, 5:] == IGNORE_INDEX).all()
    assert input_ids[0, 0] == 0 and sp["mask"] in input_ids[0]
    assert ((input_ids == sp["pad"]) == (mask == 0)).all()
    assert span_target.sum() == round(0.3 * 10) + round(0.3 * 3)  # the hidden characters, in target positions
    assert decode_chars(labels[0].clip(0), tok) == "abc defgh."
    hidden = [denoising_batch(["abcdefgh" * 5], tok, np.random.default_rng(k), mask_ratio=(0.1, 0.5))[3].sum()
              for k in range(40)]
    assert min(hidden) >= 4 and max(hidden) <= 20 and len(set(hidden)) > 5  # a ratio drawn per text


def test_shift_tokens_right_by_hand():
    labels = np.array([[0, 7, 8, 2], [0, 9, 2, IGNORE_INDEX]])
    np.testing.assert_array_equal(shift_tokens_right(labels, pad_token_id=1, decoder_start_token_id=2),
                                  [[2, 0, 7, 8], [2, 0, 9, 2]])
    np.testing.assert_array_equal(shift_tokens_right(np.array([[5, IGNORE_INDEX, 6]]), 1, 2), [[2, 5, 1]])


# ---------------------------------------------------------------------- the model
def tiny(**kw):
    base = dict(vocab_size=30, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=20,
                dropout=0.0, init_std=0.3)
    return BartConfig(**{**base, **kw})


SRC = np.array([[0, 5, 6, 7, 8, 2], [0, 9, 10, 2, 1, 1]])
SRC_MASK = (SRC != 1).astype(np.int64)
LABELS = np.array([[0, 5, 6, 7, 8, 2], [0, 9, 10, 2, IGNORE_INDEX, IGNORE_INDEX]])


def test_decoder_is_causal_and_encoder_sees_everything():
    mg.manual_seed(0)
    model = BART(tiny()).eval()
    dec = np.array([[2, 0, 5, 6, 7]])
    a, _ = model(SRC[:1], decoder_input_ids=dec)
    b, _ = model(SRC[:1], decoder_input_ids=np.array([[2, 0, 5, 6, 20]]))
    np.testing.assert_allclose(a.numpy()[:, :4], b.numpy()[:, :4], atol=1e-6)  # the past ignores the future
    assert np.abs(a.numpy()[:, 4] - b.numpy()[:, 4]).max() > 1e-3
    c, _ = model(np.array([[0, 5, 6, 7, 20, 2]]), decoder_input_ids=dec)  # a late source token
    assert np.abs(a.numpy()[:, 0] - c.numpy()[:, 0]).max() > 1e-3  # reaches the first output


def test_positions_start_at_row_two():
    mg.manual_seed(0)
    model = BART(tiny())
    _, loss = model(SRC, SRC_MASK, labels=LABELS)
    loss.backward()
    for part in (model.model.encoder, model.model.decoder):
        g = part.embed_positions.weight.grad.numpy()
        assert part.embed_positions.weight.shape[0] == 20 + 2
        assert np.all(g[:2] == 0) and np.abs(g[2]).max() > 0  # rows 0 and 1 are never read


def test_padding_in_the_source_is_ignored():
    mg.manual_seed(0)
    model = BART(tiny()).eval()
    dec = np.array([[2, 0, 9]])
    a, _ = model(np.array([[0, 9, 10, 2]]), decoder_input_ids=dec)
    b, _ = model(np.array([[0, 9, 10, 2, 1, 17]]), np.array([[1, 1, 1, 1, 0, 0]]), decoder_input_ids=dec)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_cached_generation_equals_uncached_and_stops_at_eos():
    mg.manual_seed(3)
    model = BART(tiny(forced_eos_token_id=None))
    cached = model.generate(SRC, SRC_MASK, max_new_tokens=12)
    uncached = model.generate(SRC, SRC_MASK, max_new_tokens=12, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    assert (cached[:, 0] == 2).all()
    for row in cached:
        ends = np.flatnonzero(row[1:] == 2)
        if len(ends):  # after eos only padding
            assert (row[2 + ends[0]:] == 1).all()
    forced = model.generate(SRC, SRC_MASK, max_new_tokens=3, forced_bos_token_id=0, forced_eos_token_id=2)
    assert (forced[:, 1] == 0).all() and (forced[:, -1] == 2).all() and forced.shape[1] <= 4


def test_gradients_match_finite_differences():
    mg.manual_seed(1)
    model = BART(tiny()).double().eval()

    def loss():
        return model(SRC, SRC_MASK, labels=LABELS)[1]

    loss().backward()
    params = dict(model.named_parameters())
    eps = 1e-6
    for name, index in [("model.shared.weight", (7, 3)), ("model.decoder.embed_positions.weight", (3, 1)),
                        ("model.encoder.layers.1.self_attn.k_proj.weight", (2, 5)),
                        ("model.decoder.layers.0.encoder_attn.v_proj.bias", (4,)),
                        ("model.decoder.layers.1.final_layer_norm.weight", (6,))]:
        p = params[name]
        old = p.data[index]
        with mg.no_grad():
            p.data[index] = old + eps
            up = loss().item()
            p.data[index] = old - eps
            down = loss().item()
            p.data[index] = old
        assert p.grad.numpy()[index] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8), name


def test_checkpoint_round_trip_and_untied_refusal(tmp_path):
    mg.manual_seed(2)
    model = BART(tiny()).eval()
    (tmp_path / "config.json").write_text(json.dumps(model.config.to_dict()))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    io.save({**state, "lm_head.weight": state["model.shared.weight"]}, tmp_path / "model.safetensors")
    loaded = BART.from_pretrained(tmp_path)
    np.testing.assert_array_equal(loaded(SRC, SRC_MASK, labels=LABELS)[0].numpy(),
                                  model(SRC, SRC_MASK, labels=LABELS)[0].numpy())
    io.save({**state, "lm_head.weight": state["model.shared.weight"] + 1.0}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="ties"):
        BART.from_pretrained(tmp_path)


def test_clear_errors():
    model = BART(tiny())
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(np.zeros((1, 21), dtype=np.int64), decoder_input_ids=np.array([[2]]))
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(SRC)
    with pytest.raises(ValueError, match=r"token id 30 is outside the vocabulary \[0, 30\) \(input_ids\)"):
        model(np.array([[0, 30, 2]]), decoder_input_ids=np.array([[2]]))
    with pytest.raises(ValueError, match=r"token id -1 is outside .* \(decoder_input_ids\); negative ids do not wrap"):
        model(SRC, decoder_input_ids=np.array([[2, -1]]))


# ---------------------------------------------------------------------- learning
def test_a_short_denoising_run_learns_to_copy():
    sentences = [s + "." for s in builtin_text(6_000).replace("\n", " ").split(".") if 8 < len(s) < 30][:200]
    tok = char_tokenizer("".join(sentences))
    mg.manual_seed(0)
    model = BART(BartConfig(vocab_size=tok.vocab_size, d_model=32, encoder_layers=1, decoder_layers=1,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, max_position_embeddings=40, dropout=0.0))
    before = reconstruction_accuracy(model, sentences[:32], tok, mask_ratio=0.15)
    history = train_denoiser(model, sentences, tok, max_iters=60, batch_size=16, lr=5e-3, warmup=5,
                             mask_ratio=0.15, log=False)
    after = reconstruction_accuracy(model, sentences[:32], tok, mask_ratio=0.15)
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5]) - 1.0
    assert after["token_accuracy"] > before["token_accuracy"] + 0.3
