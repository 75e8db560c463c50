"""The plumbing under RLHF on a tiny random GPT: prompt masking in SFT, response log-probabilities,
the lock-step sampler, the reward model's read-out, comparisons from the labeler."""
import numpy as np
import pytest

import minigrad as mg
from minigrad_models.gpt import GPT, GPTConfig
from minigrad_models.instructgpt import InstructionTask, score
from minigrad_models.instructgpt.base import make_tokenizer
from minigrad_models.instructgpt.reward import RewardModel, compare, comparison_batch, normalize_to_demonstrations
from minigrad_models.instructgpt.sampling import sample_responses
from minigrad_models.instructgpt.sequences import encode_pairs, response_logprobs, sequence_logprob
from minigrad_models.instructgpt.sft import sft_loss


@pytest.fixture(scope="module")
def setup():
    task = InstructionTask(0)
    tok = make_tokenizer(task)
    mg.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16, bias=False))
    return task, tok, model


def log_softmax_np(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_sft_targets_mask_the_prompt(setup):
    _, tok, _ = setup
    batch = encode_pairs(tok, ["Q: hi\nA:", "Q: sort dog\nA:"], [" Hey\n", " dgo\n"], 64)
    targets = batch.lm_targets()
    # row 0: prompt "Q: hi\nA:" is 8 tokens; the response " Hey\n" (5 tokens) is predicted at
    # positions 7..11; every other position, prompt and padding alike, is ignored (-1)
    expected = np.full(batch.idx.shape[1], -1)
    expected[7:12] = tok.encode(" Hey\n")
    np.testing.assert_array_equal(targets[0], expected)
    p1 = len("Q: sort dog\nA:")
    assert (targets[1, :p1 - 1] == -1).all() and (targets[1, p1 - 1 + 5:] == -1).all()
    np.testing.assert_array_equal(targets[1, p1 - 1:p1 - 1 + 5], tok.encode(" dgo\n"))


def test_sft_loss_is_the_response_cross_entropy_only(setup):
    _, tok, model = setup
    prompts, responses = ["Q: hi\nA:", "Q: reverse cat\nA:"], [" Hey\n", " tac\n"]
    batch = encode_pairs(tok, prompts, responses, 64)
    loss = sft_loss(model, batch)
    # independent: full logits, log-softmax in numpy, pick the response tokens by hand
    logits, _ = model(batch.idx, np.zeros_like(batch.idx))
    logp = log_softmax_np(logits.numpy().astype(np.float64))
    terms = []
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ids = tok.encode(p + r)
        terms += [-logp[i, t - 1, ids[t]] for t in range(len(p), len(ids))]
    assert loss.item() == pytest.approx(np.mean(terms), rel=1e-5)
    # no gradient reaches the logits at prompt (or padding) positions: nothing there is learned
    logits, loss = model(batch.idx, batch.lm_targets())
    logits.retain_grad()
    loss.backward()
    g = np.abs(logits.grad.numpy()).sum(-1)
    predicts_response = batch.lm_targets() >= 0
    assert (g[~predicts_response] == 0).all() and (g[predicts_response] > 0).all()


def test_response_logprobs_match_the_full_forward(setup):
    _, tok, model = setup
    prompts, responses = ["Q: hello\nA:", "Q: repeat fox 2 times\nA:", "Q: hi\nA:"], [" a\n", " fox fox\n", " xy"]
    batch = encode_pairs(tok, prompts, responses, 64)
    lp = response_logprobs(model, batch).numpy()
    logits, _ = model(batch.idx, np.zeros_like(batch.idx))
    full = log_softmax_np(logits.numpy().astype(np.float64))
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ids = tok.encode(p + r)
        want = [full[i, t - 1, ids[t]] for t in range(len(p), len(ids))]
        np.testing.assert_allclose(lp[i, :len(r)], want, rtol=1e-5, atol=1e-6)
    seq = sequence_logprob(model, batch).numpy()
    np.testing.assert_allclose(seq, [(lp[i, :len(r)]).sum() for i, r in enumerate(responses)], rtol=1e-5)
    np.testing.assert_array_equal(batch.response_mask.sum(1), [len(r) for r in responses])


def test_encode_pairs_refuses_what_does_not_fit(setup):
    _, tok, _ = setup
    with pytest.raises(ValueError, match="block_size"):
        encode_pairs(tok, ["Q: hi\nA:"], [" " + "a" * 70 + "\n"], 64)
    with pytest.raises(ValueError, match="empty"):
        encode_pairs(tok, ["Q: hi\nA:"], [""], 64)


def test_lockstep_sampler_matches_generate_and_stops_at_newline(setup):
    task, tok, model = setup
    prompts = task.prompts("train", 6)
    assert len({len(p) for p in prompts}) > 1  # the lock-step path is exercised
    greedy = sample_responses(model, tok, prompts, 12, temperature=0.0)
    for p, g in zip(prompts, greedy):
        assert 1 <= len(g) <= 12 and ("\n" not in g[:-1])
        out = model.generate(np.array([tok.encode(p)]), len(g), temperature=0.0).numpy()[0]
        assert tok.decode(out[len(p):].tolist()) == g
    a = sample_responses(model, tok, prompts, 12, generator=mg.Generator(3))
    b = sample_responses(model, tok, prompts, 12, generator=mg.Generator(3))
    assert a == b


def test_reward_model_reads_the_last_response_token(setup):
    _, tok, model = setup
    rm = RewardModel.from_gpt(model)
    np.testing.assert_array_equal(rm.gpt.transformer.wte.weight.numpy(), model.transformer.wte.weight.numpy())
    batch = encode_pairs(tok, ["Q: hi\nA:", "Q: sort dog\nA:"], [" Hey\n", " dgo and more\n"], 64)
    r = rm(batch).numpy()
    h = rm.gpt.hidden_states(batch.idx).numpy()
    w, b = rm.head.weight.numpy()[0], rm.head.bias.numpy()[0]
    for i in range(2):
        assert r[i] == pytest.approx(h[i, batch.lengths[i] - 1] @ w + b, rel=1e-5)
    # padding after a response does not change its score (causal attention)
    alone = rm(encode_pairs(tok, ["Q: hi\nA:"], [" Hey\n"], 64)).numpy()
    assert alone[0] == pytest.approx(r[0], rel=1e-5)
    demos = [("Q: hi\nA:", " Hey\n"), ("Q: hello\nA:", " Hello! How can I help you?\n")]
    normalize_to_demonstrations(rm, tok, demos)
    assert rm.score(tok, [p for p, _ in demos], [y for _, y in demos]).mean() == pytest.approx(0.0, abs=1e-5)


def test_comparisons_follow_the_labeler_and_skip_ties():
    prompt = "Q: reverse cat\nA:"
    responses = [" tac\n", " cat\n", " tac\n", " i do not know.\n"]
    c = compare(prompt, responses)
    scores = [score(prompt, r) for r in responses]
    assert c.scores == scores
    assert (0, 2) not in c.pairs and (2, 0) not in c.pairs  # identical answers tie: no preference
    for w, l in c.pairs:
        assert scores[w] > scores[l]
    assert len(c.pairs) == 5  # C(4, 2) = 6 pairs minus the tie
    batch, winners, losers, owner = comparison_batch(
        make_tokenizer(InstructionTask(0)), [c, c], 64)
    assert len(batch) == 8 and len(winners) == 10 and set(owner) == {0, 1}
    assert all(4 <= i < 8 for i in winners[5:] + losers[5:])


def test_ppo_trainer_step_with_ptx_and_adaptive_kl(setup):
    from minigrad_models.instructgpt.pipeline import clone_gpt, clone_reward_model
    from minigrad_models.instructgpt.ppo import PPOConfig, PPOTrainer

    task, tok, model = setup
    mg.manual_seed(1)
    policy, ref = clone_gpt(model), clone_gpt(model, trainable=False)
    rm = RewardModel.from_gpt(model)
    rm.requires_grad_(False)
    value = clone_reward_model(rm)
    value.requires_grad_(True)
    text = np.asarray(tok.encode(task.pretrain_text(2000)), dtype=np.int64)
    rng = np.random.default_rng(0)

    def ptx_batches():
        starts = rng.integers(0, len(text) - 17, size=4)
        return np.stack([text[s:s + 16] for s in starts]), np.stack([text[s + 1:s + 17] for s in starts])

    config = PPOConfig(rollout_size=8, minibatch_size=4, epochs=1, max_new_tokens=8, adaptive_kl=True,
                       kl_coef=0.1, kl_target=0.01, kl_horizon=10, ptx_coef=0.5, learning_rate=1e-3)
    trainer = PPOTrainer(policy, ref, value, rm, tok, lambda n, r: task.prompts("train", n, rng=r), config,
                         seed=0, ptx_batches=ptx_batches)
    before = policy.transformer.wte.weight.numpy().copy()
    first = trainer.step()
    second = trainer.step()
    for stats in (first, second):
        for key in ("reward", "kl", "value_loss", "clip_fraction", "entropy", "ptx_loss", "policy_loss"):
            assert np.isfinite(stats[key]), key
    assert first["kl"] == pytest.approx(0.0, abs=1e-4)      # the first rollout is the reference itself
    # the controller saw KL ~ 0, far below the target: error clipped to -0.2, 8 responses, horizon 10
    assert second["kl_coef"] == pytest.approx(0.1 * (1 - 0.2 * 8 / 10))
    assert not np.allclose(policy.transformer.wte.weight.numpy(), before)
    np.testing.assert_array_equal(ref.transformer.wte.weight.numpy(), model.transformer.wte.weight.numpy())
    with pytest.raises(ValueError, match="ptx_batches"):
        PPOTrainer(policy, ref, value, rm, tok, None, config)
