"""Every model of models/ on the device: a training step (forward, backward, AdamW) against the same
step on the CPU, decoding (greedy and beam search give the same ids on both devices; sampling runs
on the device's generator), the KV cache, and what crosses the bus: a training step moves the
batch in and the loss out; a decoding loop moves the prompt in, one flag a step out when it can
stop early, and the ids out at the end. (minigrad_models.ngram counts on the host: it has no device path.)"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.nn import functional as F
from minigrad_models.bart import BartConfig, BartForConditionalGeneration
from minigrad_models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel
from minigrad_models.gpt import GPT, GPTConfig
from minigrad_models.rnn_lm import CharRNN
from minigrad_models.seq2seq import Seq2Seq
from minigrad_models.transformer import Seq2SeqConfig, TransformerSeq2Seq

import standin

V = 13


def ids(*shape, seed=0, low=3):
    return np.random.default_rng(seed).integers(low, V, shape)


def gpt(dropout=0.0):
    return GPT(GPTConfig(block_size=12, vocab_size=V, n_layer=2, n_head=2, n_embd=16, dropout=dropout))


def bert_config(dropout=0.0):
    return BertConfig(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=16, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def bart(dropout=0.0):
    return BartForConditionalGeneration(BartConfig(
        vocab_size=V, max_position_embeddings=16, d_model=16, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        dropout=dropout, attention_dropout=dropout, forced_eos_token_id=None))


def transformer(dropout=0.0):
    return TransformerSeq2Seq(Seq2SeqConfig(src_vocab_size=V, tgt_vocab_size=V, d_model=16, nhead=2,
                                            num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32,
                                            dropout=dropout, max_len=32))


SRC, SRC_LENGTHS, TGT = ids(3, 7, seed=1), np.array([7, 4, 6]), ids(3, 5, seed=2)
TGT[:, 0] = 1  # <bos>
ATTENTION_MASK = (np.arange(7)[None, :] < SRC_LENGTHS[:, None]).astype(np.int64)


def _gpt_loss(m, dev):
    x = ids(2, 10)
    return m(mg.tensor(x[:, :-1], device=dev), x[:, 1:])[1]


def _cross_entropy(logits, target):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mg.as_tensor(target.reshape(-1), device=logits.device),
                           ignore_index=0)


# name -> (build(dropout), loss(model, device))
MODELS = {
    "gpt": (gpt, _gpt_loss),
    "bert_masked_lm": (lambda d=0.0: BertForMaskedLM(bert_config(d)),
                       lambda m, dev: m(SRC, ATTENTION_MASK, labels=np.where(ATTENTION_MASK > 0, SRC, -100))[1]),
    "bert_classifier": (lambda d=0.0: BertForSequenceClassification(bert_config(d)),
                        lambda m, dev: m(mg.tensor(SRC, device=dev), mg.tensor(ATTENTION_MASK, device=dev),
                                         token_type_ids=np.zeros_like(SRC), labels=[0, 1, 1])[1]),
    "bart": (bart, lambda m, dev: m(SRC, ATTENTION_MASK, labels=TGT)[1]),
    "transformer": (transformer, lambda m, dev: _cross_entropy(m(SRC, TGT[:, :-1]), TGT[:, 1:])),
    "seq2seq_plain": (lambda d=0.0: Seq2Seq(V, V, 8, 12, num_layers=2, dropout=d), lambda m, dev: m.loss(_Batch)),
    "seq2seq_reversed": (lambda d=0.0: Seq2Seq(V, V, 8, 12, reverse_source=True), lambda m, dev: m.loss(_Batch)),
    "seq2seq_attention": (lambda d=0.0: Seq2Seq(V, V, 8, 12, attention=True, attn_size=6),
                          lambda m, dev: m.loss(_Batch)),
    "char_rnn": (lambda d=0.0: CharRNN(V, "rnn", 8, 12, num_layers=2, dropout=d),
                 lambda m, dev: _cross_entropy(m(ids(2, 9))[0], ids(2, 9, seed=3))),
    "char_lstm": (lambda d=0.0: CharRNN(V, "lstm", 8, 12), lambda m, dev: _cross_entropy(m(ids(2, 9))[0], ids(2, 9, seed=3))),
    "char_gru": (lambda d=0.0: CharRNN(V, "gru", 8, 12), lambda m, dev: _cross_entropy(m(ids(2, 9))[0], ids(2, 9, seed=3))),
}


class _Batch:  # what TranslationTask.batches yields: host arrays
    src, src_lengths, tgt_in, tgt_out = SRC, SRC_LENGTHS, TGT[:, :-1], TGT[:, 1:]


def train_step(name, device):
    """One step with SGD: its update is proportional to the gradient, so a gradient that is exactly
    zero in exact arithmetic (BERT's and BART's key biases: softmax ignores a constant added to a
    row) stays rounding noise. Adam would scale that noise up to a full step of lr, differently on
    each device; test_optim_device.py checks Adam on a model without such gradients."""
    build, loss_fn = MODELS[name]
    mg.manual_seed(0)
    model = build().to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = loss_fn(model, device)
    loss.backward()
    grads = {f"grad_{n}": p.grad for n, p in model.named_parameters() if p.grad is not None}
    optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return {"loss": loss, **grads, **{f"param_{n}": p for n, p in model.named_parameters()}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_training_step_on_the_device_matches_the_cpu(name, same_on_device):
    same_on_device(lambda dev: train_step(name, dev))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_training_step_moves_only_the_batch_in_and_the_loss_out(name, device, standin_only):
    """With dropout on (its masks drawn on the device): the host ids and targets go in, nothing
    else crosses until the loss comes out. (GPT._check_idx used to read idx.min() every forward;
    seq2seq built its attention mask on the CPU; dropout masks were drawn on the host.)"""
    build, loss_fn = MODELS[name]
    model = build(0.1).to(device).train()
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    with standin.transfers() as log:
        loss = loss_fn(model, device)
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    assert log.to_host == [], log
    inputs = {"gpt": 2, "bert_masked_lm": 3, "bert_classifier": 4, "bart": 3, "transformer": 3,
              "char_rnn": 2, "char_lstm": 2, "char_gru": 2}.get(name, 4)
    assert len(log.to_device) == inputs, log  # ids, masks, lengths, targets: each crosses once
    assert np.isfinite(loss.item())


def assert_decoding_transfers(log, inputs):
    """`inputs` host arrays went in; out came one flag a step (may the loop stop?), then the ids at
    the end (and the queued index checks, read in one copy), and at most one int (a loop bound)."""
    assert len(log.to_device) == inputs, log
    out = [what for what, _ in log.to_host]
    flags = [n for what, n in log.to_host if what == "bool()"]
    assert flags and set(flags) == {1}, log
    assert set(out) <= {"bool()", "get()", "int()"} and out.count("int()") <= 1, log


def _trained(build, device, seed=0):
    mg.manual_seed(seed)
    return build().to(device).eval()


# -- decoding --------------------------------------------------------------------------------------------
def test_gpt_generate_greedy_matches_the_cpu_and_the_cache_changes_nothing(same_on_device):
    def run(dev):
        m = _trained(gpt, dev)
        prompt = ids(2, 3)
        cached = m.generate(prompt, 12, temperature=0.0)  # runs past block_size: the cropped path too
        assert cached.device == ("cuda" if dev != "cpu" else "cpu")
        uncached = m.generate(prompt, 12, temperature=0.0, use_cache=False)
        np.testing.assert_array_equal(cached.numpy(), uncached.numpy())
        return {"ids": cached}

    same_on_device(run)


def test_gpt_sampling_draws_on_the_device_and_copies_nothing_per_step(device, standin_only):
    m = _trained(gpt, device)
    prompt = mg.tensor(ids(2, 3), device=device)
    with standin.transfers() as log:
        out = m.generate(prompt, 8, temperature=0.9, top_k=5, top_p=0.9, generator=mg.Generator(3))
    assert log.to_device == [] and log.to_host == [], log  # GPT.generate has no early stop: no flag
    assert out.shape == (2, 11) and out.device == "cuda"
    again = m.generate(prompt, 8, temperature=0.9, top_k=5, top_p=0.9, generator=mg.Generator(3))
    np.testing.assert_array_equal(out.numpy(), again.numpy())  # the device's generator repeats with a seed
    assert ((out.numpy() >= 0) & (out.numpy() < V)).all()


def test_gpt_rejects_bad_ids_on_the_host_at_once_and_on_the_device_later(device):
    m = _trained(gpt, device)
    with pytest.raises(ValueError, match="token id 13 is outside the vocabulary"):
        m(np.array([[1, 13]]))
    logits, _ = m(mg.tensor([[1, -1]], device=device))  # on the device: no sync in forward
    with pytest.raises(IndexError, match="embedding: index -1 is out of range"):
        logits.numpy()


def test_gpt_attention_maps_come_back_to_the_host(device):
    maps = _trained(gpt, device).attention_maps(ids(1, 5))
    assert len(maps) == 2 and isinstance(maps[0], np.ndarray)
    np.testing.assert_allclose(maps[0].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_char_rnn_greedy_matches_the_cpu(cell, same_on_device):
    same_on_device(lambda dev: {"ids": np.array(_trained(lambda: CharRNN(V, cell, 8, 12), dev).generate(
        ids(3, 2), 6, temperature=0.0))})


def test_char_rnn_sampling_feeds_its_ids_back_on_the_device(device, standin_only):
    m = _trained(lambda: CharRNN(V, "lstm", 8, 12), device)
    with standin.transfers() as log:
        out = m.generate(ids(3, 2), 6, generator=mg.Generator(0), stop_id=5, top_k=4)
    assert_decoding_transfers(log, inputs=1)  # the prompt
    assert all(len(row) <= 6 for row in out) and sum(len(row) for row in out) > 0


def test_transformer_greedy_and_beam_search_match_the_cpu(same_on_device):
    def run(dev):
        m = _trained(transformer, dev)
        out = {"greedy": m.greedy_decode(SRC, max_len=6)}
        for k in (1, 3):
            for cache in (True, False):
                hyps = m.beam_search(SRC, beam_size=k, max_len=6, use_cache=cache)
                out[f"beam{k}_{cache}"] = np.array([h + [-1] * (6 - len(h)) for h in hyps])
        np.testing.assert_array_equal(out["beam3_True"], out["beam3_False"])  # the cache follows the beams
        return out

    same_on_device(run)


def test_transformer_greedy_keeps_done_on_the_device(device, standin_only):
    """The decode loop's `done` was a host array ORed with a device comparison (a mix)."""
    m = _trained(transformer, device)
    with standin.transfers() as log:
        m.greedy_decode(SRC, max_len=5)
    assert_decoding_transfers(log, inputs=1)  # the source ids


def test_transformer_beam_search_copies_nothing_per_step_but_a_flag(device, standin_only):
    m = _trained(transformer, device)
    with standin.transfers() as log:
        m.beam_search(SRC, beam_size=3)  # the default max_len reads the longest source: one int
    assert_decoding_transfers(log, inputs=1)


@pytest.mark.parametrize("variant", ["plain", "attention"])
def test_seq2seq_greedy_and_beam_search_match_the_cpu(variant, same_on_device):
    def run(dev):
        m = _trained(lambda: Seq2Seq(V, V, 8, 12, attention=variant == "attention"), dev)
        greedy, attention = m.greedy(SRC, SRC_LENGTHS, max_len=5, return_attention=True)
        beams = m.beam_search(SRC, SRC_LENGTHS, beam_size=3, max_len=5)
        pad = lambda rows: np.array([r + [-1] * (5 - len(r)) for r in rows])  # noqa: E731
        out = {"greedy": pad(greedy), "beam": pad(beams)}
        if variant == "attention":
            out["attention"] = np.concatenate([np.ravel(a) for row in attention for a in row])
        return out

    same_on_device(run)


def test_seq2seq_decoding_feeds_ids_back_on_the_device(device, standin_only):
    m = _trained(lambda: Seq2Seq(V, V, 8, 12, attention=True), device)
    for decode in (lambda: m.beam_search(SRC, SRC_LENGTHS, beam_size=2, max_len=5),
                   lambda: m.greedy(SRC, SRC_LENGTHS, max_len=5)):
        with standin.transfers() as log:
            decode()
        assert_decoding_transfers(log, inputs=2)  # source ids and lengths


def test_bart_generate_matches_the_cpu_with_and_without_the_cache(same_on_device):
    def run(dev):
        m = _trained(bart, dev)
        cached = m.generate(SRC, ATTENTION_MASK, max_new_tokens=5)
        np.testing.assert_array_equal(cached, m.generate(SRC, ATTENTION_MASK, max_new_tokens=5, use_cache=False))
        return {"ids": cached}

    same_on_device(run)


def test_bart_generate_copies_nothing_per_step_but_a_flag(device, standin_only):
    m = _trained(bart, device)
    with standin.transfers() as log:
        m.generate(SRC, ATTENTION_MASK, max_new_tokens=5)
    assert_decoding_transfers(log, inputs=2)  # ids and mask


def test_bert_hidden_states_with_a_device_mask_match_the_cpu(same_on_device):
    def run(dev):
        out = _trained(lambda: BertModel(bert_config()), dev)(mg.tensor(SRC, device=dev), mg.tensor(ATTENTION_MASK, device=dev))
        return {"hidden": out.last_hidden_state, "pooled": out.pooler_output}

    same_on_device(run)
