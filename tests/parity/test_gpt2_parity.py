"""GPT.from_hf against transformers' GPT2LMHeadModel on the same small random checkpoint
(made here with save_pretrained; no downloads): logits to 1e-4, the loss and its gradients,
and greedy generation token for token."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")
transformers = pytest.importorskip("transformers", reason="GPT-2 parity needs transformers: pip install -e '.[parity]'")

import minigrad as mg  # noqa: E402
from minigrad_models.gpt import GPT  # noqa: E402

CASES = {
    "gpt2_tanh_gelu_tied": dict(activation_function="gelu_new"),
    "exact_gelu_wide_mlp": dict(activation_function="gelu", n_inner=48, layer_norm_epsilon=1e-6),
}


@pytest.fixture(scope="module", params=list(CASES))
def checkpoint(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, **CASES[request.param])
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # GPT-2 starts its biases and LayerNorms at 0 and 1: make them count
        for name, p in hf.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    return hf, tmp_path


def test_logits_and_loss_match_transformers(checkpoint):
    hf, path = checkpoint
    ours = GPT.from_hf(path)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 97, size=(3, 32))
    with torch.no_grad():
        out = hf(torch.tensor(x), labels=torch.tensor(x))
    # HF shifts the labels inside; nanoGPT-style targets are the next tokens, -1 where there is none
    targets = np.concatenate([x[:, 1:], -np.ones((3, 1), dtype=np.int64)], axis=1)
    logits, loss = ours(x, targets)
    np.testing.assert_allclose(logits.numpy(), out.logits.numpy(), rtol=1e-4, atol=1e-4)
    assert abs(loss.item() - out.loss.item()) < 1e-4
    last, _ = ours(x)
    np.testing.assert_allclose(last.numpy()[:, 0], out.logits.numpy()[:, -1], rtol=1e-4, atol=1e-4)


def test_gradients_match_transformers(checkpoint):
    hf, path = checkpoint
    ours = GPT.from_hf(path)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 97, size=(2, 16))
    hf.zero_grad()
    hf(torch.tensor(x), labels=torch.tensor(x)).loss.backward()  # dropout is 0: eval mode is fine
    targets = np.concatenate([x[:, 1:], -np.ones((2, 1), dtype=np.int64)], axis=1)
    ours(x, targets)[1].backward()
    theirs = dict(hf.named_parameters())
    checked = 0
    for name, p in ours.named_parameters():
        g = theirs[name].grad.numpy()
        if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            g = g.T  # Conv1D
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-3, atol=1e-5, err_msg=name)
        checked += 1
    assert checked == len(list(ours.parameters()))


def test_greedy_generation_matches_transformers(checkpoint):
    hf, path = checkpoint
    ours = GPT.from_hf(path)
    prompt = np.array([[5, 17, 42], [8, 8, 90]])
    with torch.no_grad():
        theirs = hf.generate(torch.tensor(prompt), max_new_tokens=12, do_sample=False, pad_token_id=0,
                             attention_mask=torch.ones(prompt.shape, dtype=torch.long)).numpy()
    np.testing.assert_array_equal(ours.generate(prompt, 12, temperature=0.0).numpy(), theirs)
    np.testing.assert_array_equal(ours.generate(prompt, 12, temperature=0.0, use_cache=False).numpy(), theirs)


def test_from_hf_refuses_what_it_cannot_load(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.from_hf(tmp_path)
    config = transformers.GPT2Config(vocab_size=10, n_positions=8, n_embd=8, n_layer=1, n_head=2,
                                     scale_attn_by_inverse_layer_idx=True)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path, safe_serialization=True)
    with pytest.raises(NotImplementedError, match="scale_attn_by_inverse_layer_idx"):
        GPT.from_hf(tmp_path)
    assert mg is not None
