"""BART against transformers' BartForConditionalGeneration on the same small random checkpoint
(saved with safetensors into tmp_path): logits, loss and gradients to 1e-4, and greedy generation
token for token (with and without our key/value cache)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")
transformers = pytest.importorskip("transformers", reason="BART parity needs transformers: pip install -e '.[parity]'")

from minigrad_models.bart import BART  # noqa: E402

TOL = 1e-4
VOCAB = 64
CONFIG = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
              decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=40,
              dropout=0.1, activation_function="gelu")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random BART whose weights are large enough to make its outputs depend on the input
    (transformers' N(0, 0.02) init gives nearly the same token everywhere)."""
    torch.manual_seed(0)
    model = transformers.BartForConditionalGeneration(transformers.BartConfig(**CONFIG)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layernorm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.3)
        model.model.shared.weight[CONFIG.get("pad_token_id", 1)].zero_()
        model.final_logits_bias.normal_(0.0, 0.5)
    folder = tmp_path_factory.mktemp("bart")
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def _reference(folder):
    return transformers.BartForConditionalGeneration.from_pretrained(folder).eval()


def _inputs(seed=0):
    """<s> ... </s> sources with padding (id 1) in two rows."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, VOCAB, size=(3, 12))
    ids[:, 0] = 0
    mask = np.ones_like(ids)
    for row, length in ((1, 8), (2, 5)):
        ids[row, length - 1] = 2
        ids[row, length:] = 1
        mask[row, length:] = 0
    ids[0, -1] = 2
    return ids, mask


def _close(ours, theirs, tol=TOL):
    ours = ours.numpy() if not isinstance(ours, np.ndarray) else ours
    theirs = theirs.detach().numpy()
    diff = float(np.abs(ours - theirs).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > {tol}"


def test_logits_with_padding_on_both_sides(checkpoint):
    ref, ours = _reference(checkpoint), BART.from_pretrained(checkpoint)
    ids, mask = _inputs()
    rng = np.random.default_rng(1)
    dec = rng.integers(4, VOCAB, size=(3, 9))
    dec[:, 0] = 2
    dec_mask = np.ones_like(dec)
    dec_mask[2, 6:] = 0
    dec[2, 6:] = 1
    with torch.no_grad():
        r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), decoder_input_ids=torch.tensor(dec),
                decoder_attention_mask=torch.tensor(dec_mask)).logits
    o, _ = ours(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
    _close(o, r)
    assert float(r.std()) > 0.5  # outputs that vary: the comparison means something


def test_loss_and_gradients_with_labels(checkpoint):
    ref, ours = _reference(checkpoint), BART.from_pretrained(checkpoint)
    ids, mask = _inputs(seed=2)
    labels = np.random.default_rng(3).integers(4, VOCAB, size=(3, 7))
    labels[1, 5:] = -100  # ignored positions; the decoder reads them as padding
    r = ref(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels))
    logits, loss = ours(ids, mask, labels=labels)
    _close(logits, r.logits)
    assert abs(loss.item() - r.loss.item()) < TOL
    r.loss.backward()
    loss.backward()
    theirs = dict(ref.named_parameters())
    mine = dict(ours.named_parameters())
    for name in ("model.shared.weight", "model.encoder.embed_positions.weight",
                 "model.decoder.embed_positions.weight", "model.encoder.layers.0.self_attn.q_proj.weight",
                 "model.decoder.layers.1.encoder_attn.k_proj.weight", "model.decoder.layers.0.self_attn.v_proj.bias",
                 "model.decoder.layers.1.fc1.weight", "model.encoder.layernorm_embedding.weight"):
        _close(mine[name].grad, theirs[name].grad)


@pytest.mark.parametrize("forced_bos", [None, 0])
def test_greedy_generation_matches_transformers(checkpoint, forced_bos):
    ref, ours = _reference(checkpoint), BART.from_pretrained(checkpoint)
    for seed in (4, 5):
        ids, mask = _inputs(seed)
        with torch.no_grad():
            expected = ref.generate(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), do_sample=False,
                                    num_beams=1, max_new_tokens=8, forced_bos_token_id=forced_bos).numpy()
        cached = ours.generate(ids, mask, max_new_tokens=8, forced_bos_token_id=forced_bos)
        uncached = ours.generate(ids, mask, max_new_tokens=8, forced_bos_token_id=forced_bos, use_cache=False)
        assert expected.shape[1] >= 4
        np.testing.assert_array_equal(cached, expected)
        np.testing.assert_array_equal(uncached, expected)
