"""minigrad.generation on the device: the logits processors, sampling with eos and streaming, and beam
search (the library's and GPT's, with the KV cache) give the CPU's answers, and a decoding loop copies
nothing to the host but one flag a step (may it stop?)."""
import numpy as np

import minigrad as mg
from minigrad import backend
from minigrad.generation import apply_repetition_penalty, apply_top_k, apply_top_p, beam_search, log_softmax
from minigrad_models.gpt import GPT, GPTConfig

import standin

V = 11
PROMPT = np.array([[1, 2, 3], [4, 5, 6]])


def gpt(device):
    mg.manual_seed(0)
    return GPT(GPTConfig(block_size=10, vocab_size=V, n_layer=2, n_head=2, n_embd=16, dropout=0.0)).to(device).eval()


def test_processors_match_the_cpu(same_on_device):
    rng = np.random.default_rng(0)
    logits, seen = rng.normal(0, 2, (3, V)), rng.integers(0, V, (3, 5))

    def run(dev):
        x, ids = backend.to_device(logits, dev), backend.to_device(seen, dev)
        xp = backend.xp_of(x)
        # which tokens are kept, compared exactly (an -inf would make the tolerance infinite)
        return {"top_k": xp.isfinite(apply_top_k(x, 4)), "top_p": xp.isfinite(apply_top_p(x, 0.8)),
                "penalty": apply_repetition_penalty(x, ids, 1.7), "log_softmax": log_softmax(x)}

    same_on_device(run)


def test_beam_search_matches_the_cpu(same_on_device):
    table = np.random.default_rng(1).normal(0, 1.5, (6, V + 1, V))

    def run(dev):
        logp = log_softmax(backend.to_device(table, dev))
        xp = backend.xp_of(logp)

        def step(tokens, state):
            last = tokens[:, -1] if tokens.shape[1] else xp.full(tokens.shape[0], V)
            return logp[tokens.shape[1], last], state

        sequences, scores = beam_search(step, None, batch_size=2, num_beams=3, max_new_tokens=5, xp=xp,
                                        eos_token_id=0, length_penalty=0.8)
        return {"sequences": sequences, "scores": scores}

    same_on_device(run)


def test_gpt_eos_streaming_and_beams_match_the_cpu(same_on_device):
    def run(dev):
        m = gpt(dev)
        out = {"greedy_eos": m.generate(PROMPT, 6, temperature=0.0, eos_token_id=4, repetition_penalty=1.5)}
        streamed = list(m.generate(PROMPT, 6, temperature=0.0, eos_token_id=4, repetition_penalty=1.5, stream=True))
        out["streamed"] = mg.stack(streamed, 1)
        for cache in (True, False):
            out[f"beam_{cache}"] = m.generate(PROMPT, 8, num_beams=3, eos_token_id=4, use_cache=cache)
        np.testing.assert_array_equal(out["beam_True"].numpy(), out["beam_False"].numpy())
        return out

    same_on_device(run)


def test_gpt_sampling_with_eos_and_streaming_copies_only_a_flag_a_step(device, standin_only):
    m = gpt(device)
    prompt = mg.tensor(PROMPT, device=device)
    with standin.transfers() as log:
        out = m.generate(prompt, 6, temperature=0.9, top_k=5, top_p=0.9, repetition_penalty=1.2, eos_token_id=4,
                         generator=mg.Generator(3))
        for _ in m.generate(prompt, 6, temperature=0.9, eos_token_id=4, stream=True, generator=mg.Generator(3)):
            pass
    assert log.to_device == [], log
    assert {what for what, _ in log.to_host} <= {"bool()"} and all(n == 1 for _, n in log.to_host), log
    assert out.device == "cuda"


def test_gpt_beam_search_copies_only_a_flag_a_step(device, standin_only):
    m = gpt(device)
    prompt = mg.tensor(PROMPT, device=device)
    with standin.transfers() as log:
        out = m.generate(prompt, 6, num_beams=3, eos_token_id=4)
    assert log.to_device == [], log
    assert {what for what, _ in log.to_host} == {"bool()"}, log
    assert out.device == "cuda"
