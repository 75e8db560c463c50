"""BERT against transformers: the same small random checkpoint (saved with safetensors into tmp_path)
gives the same hidden states, pooler output, MLM and classification logits, losses and gradients."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")
transformers = pytest.importorskip("transformers", reason="BERT parity needs transformers: pip install -e '.[parity]'")

import minigrad as mg  # noqa: E402
from minigrad_models.bert import BertForMaskedLM, BertForSequenceClassification, BertModel  # noqa: E402

TOL = 1e-4
CONFIG = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=24, type_vocab_size=2, hidden_act="gelu", initializer_range=0.2,
              num_labels=3)


def _inputs(seed=0, batch=3, length=11, vocab=97):
    """Ids with padding (pad id 0) in two rows, and two segments (token types)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, length))
    mask = np.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    types = np.zeros_like(ids)
    types[:, 5:] = 1
    return ids, mask, types


def _save(model, folder):
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.BertConfig(**CONFIG)
    base = tmp_path_factory.mktemp("bert")
    return {
        "model": (_save(transformers.BertModel(config), base / "model"),),
        "mlm": (_save(transformers.BertForMaskedLM(config), base / "mlm"),),
        "cls": (_save(transformers.BertForSequenceClassification(config), base / "cls"),),
    }


def _reference(cls_name, folder):
    return getattr(transformers, cls_name).from_pretrained(folder).eval()


def _close(ours, theirs, tol=TOL):
    ours = ours.numpy() if hasattr(ours, "numpy") and not isinstance(ours, np.ndarray) else ours
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    diff = float(np.abs(ours - theirs).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > {tol}"
    return diff


def test_bert_model_hidden_states_and_pooler(checkpoints):
    (folder,) = checkpoints["model"]
    ref, ours = _reference("BertModel", folder), BertModel.from_pretrained(folder)
    ids, mask, types = _inputs()
    with torch.no_grad():
        r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    o = ours(ids, mask, types)
    # the padded positions are computed too (they attend to the real tokens): compare everything
    _close(o.last_hidden_state, r.last_hidden_state)
    _close(o.pooler_output, r.pooler_output)
    assert np.abs(r.pooler_output.numpy()).max() > 0.1  # a non-trivial output, not two sets of zeros


def test_bert_model_gradients_of_weights(checkpoints):
    (folder,) = checkpoints["model"]
    ref, ours = _reference("BertModel", folder), BertModel.from_pretrained(folder)
    ids, mask, types = _inputs(seed=1)
    g = np.random.default_rng(2).standard_normal((ids.shape[0], ids.shape[1], CONFIG["hidden_size"]))
    gp = np.random.default_rng(3).standard_normal((ids.shape[0], CONFIG["hidden_size"]))
    r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    ((r.last_hidden_state * torch.tensor(g, dtype=torch.float32)).sum()
     + (r.pooler_output * torch.tensor(gp, dtype=torch.float32)).sum()).backward()
    o = ours(ids, mask, types)
    ((o.last_hidden_state * mg.tensor(g.astype(np.float32))).sum()
     + (o.pooler_output * mg.tensor(gp.astype(np.float32))).sum()).backward()
    theirs = dict(ref.named_parameters())
    ours_p = dict(ours.named_parameters())
    for name in ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.token_type_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
                 "encoder.layer.0.attention.self.key.bias", "encoder.layer.1.output.LayerNorm.weight",
                 "encoder.layer.1.intermediate.dense.weight", "pooler.dense.weight"):
        _close(ours_p[name].grad, theirs[name].grad)
    # the padding row of the word embeddings gets no gradient from the lookup, in both
    assert np.all(ours_p["embeddings.word_embeddings.weight"].grad.numpy()[0] == 0)


def test_masked_lm_logits_loss_and_tied_gradient(checkpoints):
    (folder,) = checkpoints["mlm"]
    ref, ours = _reference("BertForMaskedLM", folder), BertForMaskedLM.from_pretrained(folder)
    ids, mask, types = _inputs(seed=4)
    labels = np.full_like(ids, -100)
    labels[:, 2] = ids[:, 2]
    labels[0, 6] = ids[0, 6]
    r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types),
            labels=torch.tensor(labels))
    logits, loss = ours(ids, mask, types, labels=labels)
    _close(logits, r.logits)
    assert abs(loss.item() - r.loss.item()) < TOL
    r.loss.backward()
    loss.backward()
    # the word embeddings get gradient from the input lookup and from the tied output layer
    _close(ours.bert.embeddings.word_embeddings.weight.grad, ref.bert.embeddings.word_embeddings.weight.grad)
    _close(ours.cls.predictions.bias.grad, ref.cls.predictions.bias.grad)
    _close(ours.cls.predictions.transform.dense.weight.grad, ref.cls.predictions.transform.dense.weight.grad)


def test_sequence_classification_logits_and_loss(checkpoints):
    (folder,) = checkpoints["cls"]
    ref = _reference("BertForSequenceClassification", folder)
    ours = BertForSequenceClassification.from_pretrained(folder)
    ids, mask, types = _inputs(seed=5)
    labels = np.array([0, 2, 1])
    with torch.no_grad():
        r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types),
                labels=torch.tensor(labels))
    logits, loss = ours(ids, mask, types, labels=labels)
    assert logits.shape == (3, CONFIG["num_labels"])
    _close(logits, r.logits)
    assert abs(loss.item() - r.loss.item()) < TOL


def test_encoder_of_a_head_checkpoint_matches_transformers_base_model(checkpoints):
    """BertModel.from_pretrained on a BertForMaskedLM folder takes the `bert.` weights (no pooler there)."""
    (folder,) = checkpoints["mlm"]
    ref = transformers.BertForMaskedLM.from_pretrained(folder).eval().bert
    ours = BertModel.from_pretrained(folder)
    assert ours.pooler is None
    ids, mask, types = _inputs(seed=6)
    with torch.no_grad():
        r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    _close(ours(ids, mask, types).last_hidden_state, r.last_hidden_state)
