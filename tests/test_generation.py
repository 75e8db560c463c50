"""minigrad.generation against independent answers: top-k / top-p / repetition penalty against a
hand-worked distribution and against transformers' logits processors; beam search against an
exhaustive search over a tiny vocabulary; eos handling and streaming on GPT; GPT's beam search
with and without the KV cache."""
import itertools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.generation import (apply_repetition_penalty, apply_top_k, apply_top_p, beam_search, force_token,
                                 log_softmax, sample_next, sample_stream)
from minigrad_models.gpt import GPT, GPTConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


# -- the processors, by hand -------------------------------------------------------------------------------
LOGITS = np.log(np.array([[0.5, 0.2, 0.15, 0.1, 0.05]]))  # probabilities chosen to be read off


def test_top_k_keeps_the_k_largest_by_hand():
    kept = np.isfinite(apply_top_k(LOGITS, 2))
    np.testing.assert_array_equal(kept, [[True, True, False, False, False]])


@pytest.mark.parametrize("top_p, n_kept",
                         [(0.45, 1), (0.55, 2), (0.69, 2), (0.75, 3), (0.84, 3), (0.9, 4), (0.99, 5), (1.0, 5)])
def test_top_p_keeps_the_smallest_set_reaching_p_by_hand(top_p, n_kept):
    # cumulative mass 0.5, 0.7, 0.85, 0.95, 1.0: a token stays while the mass before it is < top_p
    # (p off those boundaries: at one exactly, rounding decides)
    kept = np.isfinite(apply_top_p(LOGITS, top_p))
    assert kept.sum() == n_kept and kept[0, :n_kept].all()


def test_repetition_penalty_by_hand():
    logits = np.array([[2.0, -1.0, 0.5, 3.0]])
    out = apply_repetition_penalty(logits, np.array([[0, 1, 1]]), 2.0)
    np.testing.assert_array_equal(out, [[1.0, -2.0, 0.5, 3.0]])  # positive / 2, negative * 2, unseen kept


def test_force_token_leaves_one_choice():
    forced = force_token(np.array([[5.0, 1.0, 2.0], [0.0, 9.0, 1.0]]), 2)
    np.testing.assert_array_equal(forced, [[-np.inf, -np.inf, 0.0]] * 2)
    assert (sample_next(forced, 1.0, rng=np.random.default_rng(0)) == 2).all()


def test_sampling_draws_the_filtered_distribution():
    rng = np.random.default_rng(0)
    draws = sample_next(np.repeat(LOGITS, 20000, 0), 1.0, top_k=3, rng=rng)
    freq = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freq, [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0], atol=0.012)


# -- the processors, against transformers ----------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_processors_match_transformers(seed):
    from transformers import RepetitionPenaltyLogitsProcessor, TopKLogitsWarper, TopPLogitsWarper

    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (4, 50))
    ids = rng.integers(0, 50, (4, 7))
    t_logits, t_ids = torch.tensor(logits), torch.tensor(ids)
    for k in (1, 5, 49):
        expected = TopKLogitsWarper(k)(t_ids, t_logits.clone()).numpy()
        np.testing.assert_array_equal(apply_top_k(logits, k), expected)
    for p in (0.1, 0.5, 0.9, 0.99):
        expected = TopPLogitsWarper(p)(t_ids, t_logits.clone()).numpy()
        np.testing.assert_array_equal(np.isfinite(apply_top_p(logits, p)), np.isfinite(expected))
    for penalty in (0.7, 1.3, 2.0):
        expected = RepetitionPenaltyLogitsProcessor(penalty)(t_ids, t_logits.clone()).numpy()
        np.testing.assert_allclose(apply_repetition_penalty(logits, ids, penalty), expected, rtol=1e-12)


# -- beam search against exhaustive search -----------------------------------------------------------------
V, L, EOS = 3, 4, 0


def toy_log_probs(seed=0):
    """A fixed decoder whose next-token distribution depends on the last token and the position."""
    table = np.random.default_rng(seed).normal(0, 1.5, (L + 1, V + 1, V))  # [position, last token (V = start), next]
    return log_softmax(table)


def toy_step(logp):
    def step(tokens, state):
        t = tokens.shape[1]
        last = tokens[:, -1] if t else np.full(tokens.shape[0], V)
        return logp[t, last], state
    return step


def exhaustive_best(logp, length_penalty):
    """Every sequence the search may return: ending at its first eos, or L tokens without one."""
    best = (-math.inf, None)
    for n in range(1, L + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < L and seq[-1] != EOS):
                continue
            total, last = 0.0, V
            for t, tok in enumerate(seq):
                total += logp[t, last, tok]
                last = tok
            best = max(best, (total / n ** length_penalty, seq))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0, -1.0])
def test_beam_search_with_every_beam_finds_the_exhaustive_best(seed, length_penalty):
    logp = toy_log_probs(seed)
    score, seq = exhaustive_best(logp, length_penalty)
    sequences, scores = beam_search(toy_step(logp), None, batch_size=1, num_beams=V ** L, max_new_tokens=L,
                                    eos_token_id=EOS, pad_token_id=-1, length_penalty=length_penalty)
    got = [t for t in sequences[0].tolist() if t != -1]
    assert tuple(got) == seq
    assert scores[0] == pytest.approx(score, abs=1e-12)


def test_one_beam_is_greedy():
    logp = toy_log_probs(1)
    sequences, _ = beam_search(toy_step(logp), None, batch_size=1, num_beams=1, max_new_tokens=L, eos_token_id=None)
    last, greedy = V, []
    for t in range(L):
        last = int(logp[t, last].argmax())
        greedy.append(last)
    assert sequences[0].tolist() == greedy


# -- GPT: eos, streaming, beams --------------------------------------------------------------------------------
def tiny_gpt(block_size=16):
    mg.manual_seed(0)
    return GPT(GPTConfig(block_size=block_size, vocab_size=7, n_layer=2, n_head=2, n_embd=16, dropout=0.0))


PROMPT = np.array([[1, 2, 3], [4, 5, 6]])


def test_gpt_eos_pads_finished_rows_and_stops_when_all_have():
    """Rows are independent and draw one number each a step, so with the same generator a row
    samples what it samples without eos up to its first eos; then pads until every row has one."""
    m = tiny_gpt()
    free = m.generate(PROMPT, 10, generator=mg.Generator(0)).numpy()[:, 3:]
    eos = 5  # in both rows of this draw: row 0 at step 2, row 1 at step 3
    ends = [list(r).index(eos) for r in free]
    assert ends == [2, 3]
    out = m.generate(PROMPT, 10, generator=mg.Generator(0), eos_token_id=eos, pad_token_id=6).numpy()[:, 3:]
    np.testing.assert_array_equal(out, [list(free[0, :3]) + [6], list(free[1, :4])])  # stopped after step 3


def test_streaming_yields_the_same_tokens_as_generate():
    m = tiny_gpt()
    kw = dict(temperature=0.9, top_k=5, top_p=0.9, repetition_penalty=1.3, eos_token_id=2)
    whole = m.generate(PROMPT, 12, generator=mg.Generator(4), **kw).numpy()
    streamed = [t.numpy() for t in m.generate(PROMPT, 12, generator=mg.Generator(4), stream=True, **kw)]
    np.testing.assert_array_equal(np.concatenate([PROMPT, np.stack(streamed, 1)], 1), whole)
    seen = []
    called = m.generate(PROMPT, 12, generator=mg.Generator(4), streamer=lambda t: seen.append(t.numpy()), **kw)
    np.testing.assert_array_equal(called.numpy(), whole)
    np.testing.assert_array_equal(np.stack(seen, 1), whole[:, 3:])


def test_streaming_leaves_the_model_in_its_mode():
    m = tiny_gpt().train()
    stream = m.generate(PROMPT, 5, stream=True)
    next(stream)
    assert not m.training
    stream.close()
    assert m.training


def test_gpt_repetition_penalty_matches_transformers_greedy_step():
    m = tiny_gpt()
    logits = m(PROMPT)[0].numpy()[:, -1].astype(np.float64)
    from transformers import RepetitionPenaltyLogitsProcessor

    expected = RepetitionPenaltyLogitsProcessor(3.0)(torch.tensor(PROMPT), torch.tensor(logits)).argmax(-1).numpy()
    out = m.generate(PROMPT, 1, temperature=0.0, repetition_penalty=3.0).numpy()[:, -1]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("eos", [None, 3])
def test_gpt_beam_search_is_the_same_with_and_without_the_cache(eos):
    m = tiny_gpt(block_size=10)  # 3 + 9 tokens: past block_size, the cropped path too
    cached = m.generate(PROMPT, 9, num_beams=3, eos_token_id=eos).numpy()
    uncached = m.generate(PROMPT, 9, num_beams=3, eos_token_id=eos, use_cache=False).numpy()
    np.testing.assert_array_equal(cached, uncached)


def test_gpt_beam_search_with_every_beam_finds_the_most_likely_continuation():
    m = tiny_gpt()
    n = 3
    best, best_seq = -math.inf, None
    for seq in itertools.product(range(7), repeat=n):
        x = np.concatenate([PROMPT[:1], [seq]], 1)
        logits = m(x[:, :-1], x[:, 1:])[0].numpy().astype(np.float64)[0, 2:]
        total = sum(log_softmax(logits[t])[seq[t]] for t in range(n))
        best, best_seq = max((best, best_seq), (total, seq))
    out = m.generate(PROMPT[:1], n, num_beams=7 ** n).numpy()[0, 3:]
    assert tuple(out.tolist()) == best_seq


def test_one_beam_equals_greedy_and_streaming_refuses_beams():
    m = tiny_gpt()
    np.testing.assert_array_equal(m.generate(PROMPT, 6, num_beams=1, temperature=0.0).numpy(),
                                  m.generate(PROMPT, 6, temperature=0.0).numpy())
    with pytest.raises(ValueError, match="streaming needs num_beams=1"):
        m.generate(PROMPT, 6, num_beams=2, stream=True)


def test_sample_stream_stops_when_every_row_has_eos():
    calls = []

    def next_logits(tokens):  # row 0 writes eos (0) at once, row 1 after two steps
        calls.append(tokens.shape[1])
        logits = np.full((2, 4), -10.0)
        logits[0, 0] = 10
        logits[1, 0 if tokens.shape[1] >= 3 else 2] = 10
        return logits

    cols = list(sample_stream(next_logits, np.zeros((2, 1), dtype=np.int64), 10, temperature=0.0,
                              eos_token_id=0, pad_token_id=9))
    np.testing.assert_array_equal(np.stack(cols, 1), [[0, 9, 9], [2, 2, 0]])
    assert calls == [1, 2, 3]


def test_the_readme_generation_example_runs(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"## Generating text.*?```python\n(.*?)```", readme, re.S).group(1)
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["out"].shape[0] == 1 and 3 < scope["out"].shape[1] <= 23
    assert scope["best"].shape[0] == 1 and 3 < scope["best"].shape[1] <= 13
    assert capsys.readouterr().out.strip()  # the stream printed its tokens
