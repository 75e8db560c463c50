"""Character RNN/LSTM/GRU language models: the data conventions, state carrying, the losses
against a one-name-at-a-time / one-chunk computation, and that training learns."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import CharTokenizer, builtin_names
from minigrad.data.splits import makemore_split
from minigrad_models.ngram import NGramLM
from minigrad_models.rnn_lm import IGNORE, CharRNN
from minigrad_tutorials.recipes.char_lm import (encode_names, names_batches, names_loss, pad_names, stream_batches,
                                                stream_loss, strands, train)


def tok_for(words):
    return CharTokenizer(words, specials=["."])


def test_names_are_read_from_dot_and_predict_the_closing_dot():
    tok = tok_for(["emma", "ava"])
    (x, y), = encode_names(["emma"], tok)
    assert tok.decode(x) == ".emma" and tok.decode(y) == "emma."
    xs, ys = pad_names(encode_names(["emma", "ava"], tok))
    assert xs.shape == ys.shape == (2, 5)
    assert tok.decode(xs[1, :4]) == ".ava" and ys[1, 4] == IGNORE and xs[1, 4] == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carries_a_sequence_across_calls(cell):
    mg.manual_seed(0)
    model = CharRNN(11, cell, embed_dim=5, hidden_size=7, num_layers=2)
    model.eval()
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 9))
    whole, _ = model(ids)
    first, state = model(ids[:, :4])
    second, _ = model(ids[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()], axis=1), whole.numpy(), atol=1e-5)
    assert whole.shape == (3, 9, 11)


def test_names_loss_is_the_mean_over_every_predicted_character():
    """Batched and padded, the loss equals a name-by-name computation with numpy."""
    mg.manual_seed(1)
    words = ["emma", "olivia", "ava", "x", "isabella"]
    tok = tok_for(words)
    model = CharRNN(tok.vocab_size, "gru", embed_dim=4, hidden_size=6)
    enc = encode_names(words, tok)
    total, count = 0.0, 0
    for x, y in enc:
        logits, _ = model(x[None])
        logp = logits.log_softmax(-1).numpy()[0]
        total -= logp[np.arange(len(y)), y].sum()
        count += len(y)
    assert count == sum(len(w) + 1 for w in words)
    assert names_loss(model, enc, batch_size=2) == pytest.approx(total / count, rel=1e-5)


def test_stream_loss_does_not_depend_on_the_chunk_length():
    """The state is carried between chunks, so cutting the strands differently changes nothing."""
    mg.manual_seed(2)
    model = CharRNN(9, "lstm", embed_dim=4, hidden_size=5)
    ids = np.random.default_rng(1).integers(0, 9, size=400)
    a = stream_loss(model, ids, batch_size=4, seq_len=7)
    b = stream_loss(model, ids, batch_size=4, seq_len=1000)
    assert a == pytest.approx(b, rel=1e-5)
    s = strands(ids, 4)
    logits, _ = model(s[:, :-1])
    logp = logits.log_softmax(-1).numpy()
    expected = -np.take_along_axis(logp, s[:, 1:, None], axis=-1).mean()
    assert a == pytest.approx(expected, rel=1e-5)


def test_stream_batches_are_consecutive_chunks():
    ids = np.arange(1000)
    batches = stream_batches(ids, 4, 10, np.random.default_rng(0))
    x1, y1, new1 = next(batches)
    x2, y2, new2 = next(batches)
    assert new1 and not new2
    np.testing.assert_array_equal(y1, x1 + 1)
    np.testing.assert_array_equal(x2[:, 0], x1[:, -1] + 1)  # the next chunk continues each strand


def test_an_lstm_learns_names_better_than_a_bigram():
    """60 updates on made-up names: the LSTM's dev loss drops below the add-one bigram's."""
    words = builtin_names(1500, seed=3)
    train_w, dev_w, _ = makemore_split(words)
    tok = tok_for(words)
    mg.manual_seed(0)
    model = CharRNN(tok.vocab_size, "lstm", embed_dim=16, hidden_size=64)
    dev = encode_names(dev_w, tok)
    before = names_loss(model, dev)
    assert before == pytest.approx(math.log(tok.vocab_size), abs=0.3)
    stats = train(model, names_batches(encode_names(train_w, tok), 32, np.random.default_rng(0)), steps=80, lr=1e-2)
    after = names_loss(model, dev)
    bigram = NGramLM(2, smoothing="add_k", k=1.0, boundary=".").fit(train_w).cross_entropy(dev_w)
    assert stats["steps"] == 80
    assert after < bigram < before


def test_generate_stops_at_the_boundary():
    mg.manual_seed(0)
    model = CharRNN(5, "rnn", embed_dim=3, hidden_size=4)
    out = model.generate(np.zeros((6, 1), dtype=np.int64), 30, stop_id=0)
    assert len(out) == 6
    for ids in out:
        assert all(0 <= i < 5 for i in ids)
        assert 0 not in ids[:-1] and (len(ids) == 30 or ids[-1] == 0)


def test_clear_errors():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharRNN(5, "transformer")
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        CharRNN(5)(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="fewer than batch_size"):
        next(names_batches([(np.zeros(2), np.zeros(2))], 4, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="too few"):
        strands(np.arange(5), 4)
