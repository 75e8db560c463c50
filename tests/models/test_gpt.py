"""GPT: shapes, parameter count and init against hand-computed values, causality, gradients
against finite differences, KV-cache generation against the uncached path, sampling rules,
clear errors, and a short training run. (tests/parity/test_gpt2_parity.py: transformers.)"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.generation import sample_next
from minigrad_models.gpt import GPT, GPTConfig, hf_state_dict_to_gpt, shakespeare_char_config
from minigrad_tutorials.recipes.char_lm import TrainConfig, train_char_gpt


def tiny(**kw):
    base = dict(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=True)
    base.update(kw)
    mg.manual_seed(0)
    return GPT(GPTConfig(**base))


def ids(rng, B, T, V=11):
    return rng.integers(0, V, size=(B, T))


def test_shapes_and_initial_loss_is_log_vocab():
    model = tiny()
    rng = np.random.default_rng(0)
    x, y = ids(rng, 3, 8), ids(rng, 3, 8)
    logits, loss = model(x, y)
    assert logits.shape == (3, 8, 11) and loss.shape == ()
    # weights ~ N(0, 0.02): logits start near zero, so the loss starts near ln(V)
    assert abs(loss.item() - math.log(11)) < 0.05
    last, none = model(x)
    assert last.shape == (3, 1, 11) and none is None
    np.testing.assert_allclose(last.numpy()[:, 0], logits.numpy()[:, -1], rtol=1e-5, atol=1e-6)


def test_hidden_states_are_what_the_head_reads():
    model = tiny()
    x = ids(np.random.default_rng(1), 2, 8)
    h = model.hidden_states(x)
    assert h.shape == (2, 8, 8)
    # ln_f's output: zero mean, variance var/(var + eps) < 1 over the features (gain 1, bias 0 at init)
    np.testing.assert_allclose(h.numpy().mean(-1), 0, atol=1e-5)
    assert np.all((h.numpy().var(-1) > 0.9) & (h.numpy().var(-1) <= 1))
    logits, _ = model(x, np.zeros_like(x))
    W = model.lm_head.weight.numpy()
    np.testing.assert_allclose(logits.numpy(), h.numpy() @ W.T, rtol=1e-5, atol=1e-6)


def test_targets_minus_one_are_ignored():
    model = tiny()
    rng = np.random.default_rng(1)
    x, y = ids(rng, 2, 6), ids(rng, 2, 6)
    y_masked = y.copy()
    y_masked[:, 3:] = -1
    _, loss_masked = model(x, y_masked)
    logits, _ = model(x, y)
    logp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(-1, keepdims=True))
    want = -np.mean([logp[b, t, y[b, t]] for b in range(2) for t in range(3)])
    assert abs(loss_masked.item() - want) < 1e-5


def test_parameter_count_and_tied_head():
    C, L, V, block = 128, 4, 65, 64
    model = GPT(shakespeare_char_config())
    assert model.transformer.wte.weight is model.lm_head.weight
    per_block = 12 * C * C + 2 * C  # c_attn 3C^2, c_proj C^2, c_fc 4C^2, c_proj 4C^2, two LayerNorm gains
    total = V * C + block * C + L * per_block + C
    assert model.get_num_params(non_embedding=False) == total
    assert model.get_num_params() == total - block * C
    assert "lm_head.weight" in model.state_dict()  # saved under both names, as PyTorch does


def test_init_follows_gpt2():
    mg.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=500, n_layer=8, n_head=4, n_embd=128))
    h0 = model.transformer.h[0]
    assert abs(h0.mlp.c_fc.weight.numpy().std() - 0.02) < 0.001
    assert abs(h0.mlp.c_proj.weight.numpy().std() - 0.02 / math.sqrt(16)) < 0.0005
    assert abs(h0.attn.c_proj.weight.numpy().std() - 0.02 / math.sqrt(16)) < 0.0005
    assert np.all(h0.attn.c_attn.bias.numpy() == 0) and np.all(h0.ln_1.weight.numpy() == 1)


def test_causal_a_later_token_never_changes_earlier_logits():
    model = tiny()
    rng = np.random.default_rng(2)
    x = ids(rng, 2, 8)
    y = np.zeros_like(x)
    a, _ = model(x, y)
    x2 = x.copy()
    x2[:, 5] = (x2[:, 5] + 1) % 11
    b, _ = model(x2, y)
    np.testing.assert_allclose(a.numpy()[:, :5], b.numpy()[:, :5], rtol=1e-6, atol=1e-7)
    assert np.abs(a.numpy()[:, 5:] - b.numpy()[:, 5:]).max() > 1e-4


def test_gradients_match_finite_differences():
    model = tiny(n_layer=1, dropout=0.0).double()
    rng = np.random.default_rng(3)
    x, y = ids(rng, 2, 5), ids(rng, 2, 5)
    _, loss = model(x, y)
    loss.backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        flat = p.data.reshape(-1)
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up = model(x, y)[1].item()
            flat[i] = old - eps
            down = model(x, y)[1].item()
            flat[i] = old
            numeric = (up - down) / (2 * eps)
            assert abs(p.grad.data.reshape(-1)[i] - numeric) < 1e-6 + 1e-4 * abs(numeric), name


def test_cached_forward_equals_full_forward_position_by_position():
    model = tiny().eval()
    rng = np.random.default_rng(4)
    x = ids(rng, 2, 8)
    full, _ = model(x, np.zeros_like(x))
    cache = mg.nn.KVCache()
    with mg.no_grad():
        first, _ = model(x[:, :3], kv_cache=cache)
        np.testing.assert_allclose(first.numpy()[:, 0], full.numpy()[:, 2], rtol=1e-5, atol=1e-6)
        for t in range(3, 8):
            step, _ = model(x[:, t:t + 1], kv_cache=cache)
            np.testing.assert_allclose(step.numpy()[:, 0], full.numpy()[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prompt_len,new", [(1, 5), (3, 12)])  # 3 + 12 runs past block_size 8
def test_greedy_generation_with_and_without_cache_is_identical(prompt_len, new):
    model = tiny()
    rng = np.random.default_rng(5)
    prompt = ids(rng, 3, prompt_len)
    cached = model.generate(prompt, new, temperature=0.0).numpy()
    plain = model.generate(prompt, new, temperature=0.0, use_cache=False).numpy()
    assert cached.shape == (3, prompt_len + new)
    np.testing.assert_array_equal(cached[:, :prompt_len], prompt)
    np.testing.assert_array_equal(cached, plain)
    # and greedy really is the argmax of the model's next-token logits
    logits, _ = model(plain[:, :prompt_len])
    np.testing.assert_array_equal(plain[:, prompt_len], logits.numpy()[:, 0].argmax(-1))


def test_sampled_generation_is_seeded_and_the_same_with_cache():
    model = tiny()
    prompt = np.array([[1, 2]])
    a = model.generate(prompt, 10, temperature=1.0, top_k=5, generator=mg.Generator(7)).numpy()
    b = model.generate(prompt, 10, temperature=1.0, top_k=5, generator=mg.Generator(7), use_cache=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert model.training  # generate() restores the mode it found


def test_sample_next_rules():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    draws = np.array([sample_next(logits, 1.0, rng=rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.5, 0.3, 0.15, 0.05], atol=0.03)
    assert set(sample_next(np.repeat(logits, 500, 0), 1.0, top_k=2, rng=rng)) <= {0, 1}
    # nucleus 0.7: 0.5 alone is not enough, 0.5 + 0.3 is; token 2 and 3 are cut
    assert set(sample_next(np.repeat(logits, 500, 0), 1.0, top_p=0.7, rng=rng)) == {0, 1}
    assert set(sample_next(np.repeat(logits, 50, 0), 1.0, top_p=0.1, rng=rng)) == {0}
    assert sample_next(logits, 0.0)[0] == 0
    # a low temperature sharpens the distribution towards the argmax
    cold = np.array([sample_next(logits, 0.2, rng=rng)[0] for _ in range(500)])
    assert (cold == 0).mean() > 0.9


def test_configure_optimizers_decays_only_matrices():
    model = tiny()
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_clear_errors():
    model = tiny()
    with pytest.raises(ValueError, match="block_size is only 8"):
        model(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(ValueError, match="token id 11 is outside the vocabulary"):
        model(np.array([[1, 11]]))
    with pytest.raises(ValueError, match="token id -1"):
        model(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="2-D integer"):
        model(np.array([1, 2]))
    with pytest.raises(ValueError, match="2-D integer"):
        model(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="targets must have"):
        model(np.array([[1, 2]]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(np.array([[1]]), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(np.array([[1]]), 3, top_p=0.0)
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=10, n_head=4)


def test_hf_state_dict_mapping_transposes_conv1d():
    config = GPTConfig(block_size=4, vocab_size=5, n_layer=1, n_head=1, n_embd=2)
    rng = np.random.default_rng(0)
    hf = {"wte.weight": rng.standard_normal((5, 2)), "h.0.attn.c_attn.weight": rng.standard_normal((2, 6)),
          "h.0.attn.bias": np.ones((1, 1, 4, 4)), "h.0.mlp.c_fc.bias": rng.standard_normal(8)}
    out = hf_state_dict_to_gpt(hf, config)
    np.testing.assert_array_equal(out["transformer.h.0.attn.c_attn.weight"], hf["h.0.attn.c_attn.weight"].T.astype(np.float32))
    np.testing.assert_array_equal(out["transformer.h.0.mlp.c_fc.bias"], hf["h.0.mlp.c_fc.bias"].astype(np.float32))
    np.testing.assert_array_equal(out["lm_head.weight"], out["transformer.wte.weight"])
    assert not any(k.endswith("attn.bias") for k in out)


def test_train_char_gpt_learns_a_periodic_text():
    text = "the cat sat on the mat. " * 60
    config = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32, bias=False)
    tc = TrainConfig(max_iters=120, batch_size=8, warmup_iters=10, lr_decay_iters=120, learning_rate=3e-3,
                     min_lr=3e-4, eval_interval=60, eval_iters=2, final_eval_iters=4)
    model, history = train_char_gpt(text, config, tc, progress=False, log=False)
    assert history["config"]["vocab_size"] == len(set(text))
    assert history["val_loss"][0] > 2.0 and history["final_val_loss"] < 0.3
    assert history["lr"][0] < history["lr"][10] and abs(history["lr"][-1] - 3e-4) < 1e-4  # warmup, then cosine
    tok = history["tokenizer"]
    out = model.generate(np.array([tok.encode("the cat ")]), 24, temperature=0.0)  # past block_size 16
    assert tok.decode(out.numpy()[0].tolist()) == text[:32]
