"""Random numbers for device tensors are drawn on the device, by the device's generator seeded
from the same manual_seed: factories, in-place fills, layer initialisation, multinomial."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

import standin


def _draws(device, probs=None):
    probs = probs if probs is not None else mg.tensor([[0.2, 0.0, 0.8]], device=device)
    return {
        "randn": mg.randn(2000, device=device), "rand": mg.rand(2000, device=device),
        "randint": mg.randint(3, 9, size=(2000,), device=device), "randperm": mg.randperm(50, device=device),
        "uniform_": mg.zeros(2000, device=device).uniform_(-2.0, 1.0),
        "normal_": mg.zeros(2000, device=device).normal_(3.0, 0.5),
        "multinomial": mg.multinomial(probs, 2000),
    }


def test_random_tensors_are_drawn_on_the_device(device, standin_only):
    mg.manual_seed(7)
    probs = mg.tensor([[0.2, 0.0, 0.8]], device=device)
    with standin.transfers() as log:
        draws = _draws(device, probs)
        layer = nn.Linear(64, 32, device=device)
    assert log.to_device == [] and log.to_host == [], log
    assert {t.device for t in list(draws.values()) + list(layer.parameters())} == {"cuda"}


def test_the_device_generator_repeats_with_its_seed_and_draws_the_right_distributions(device):
    mg.manual_seed(7)
    first = {k: v.numpy() for k, v in _draws(device).items()}
    mg.manual_seed(7)
    again = {k: v.numpy() for k, v in _draws(device).items()}
    for k in first:
        np.testing.assert_array_equal(first[k], again[k], err_msg=k)
    assert abs(first["randn"].mean()) < 0.1 and abs(first["randn"].std() - 1) < 0.1
    assert 0 <= first["rand"].min() and first["rand"].max() < 1 and abs(first["rand"].mean() - 0.5) < 0.05
    assert set(np.unique(first["randint"])) == set(range(3, 9))
    assert sorted(first["randperm"]) == list(range(50))
    assert -2 <= first["uniform_"].min() and first["uniform_"].max() < 1
    assert abs(first["normal_"].mean() - 3) < 0.05 and abs(first["normal_"].std() - 0.5) < 0.05
    assert set(np.unique(first["multinomial"])) == {0, 2} and abs((first["multinomial"] == 2).mean() - 0.8) < 0.05


def test_the_device_state_saved_and_restored_repeats_the_device_draws(device):
    """minigrad.cuda.get_rng_state / set_rng_state (torch.cuda's names): the device stream's key.
    Reading it starts the next epoch's stream; restoring it restarts that stream, also after other
    draws and a new seed. The CPU generator is separate: its state neither moves nor moves it."""
    mg.manual_seed(3)
    mg.randn(5, device=device)
    cpu_state = mg.get_rng_state()
    state = mg.cuda.get_rng_state()
    assert state.dtype == mg.uint8 and state.shape == (24,) and state.device == "cpu"
    after = {k: v.numpy() for k, v in _draws(device).items()}
    cpu_after = mg.randn(4).numpy()

    mg.manual_seed(99)
    mg.randn(7, device=device)
    mg.cuda.set_rng_state(state.to(device))  # a state that was loaded onto the device reads back too
    again = {k: v.numpy() for k, v in _draws(device).items()}
    for k in after:
        np.testing.assert_array_equal(again[k], after[k], err_msg=k)
    mg.set_rng_state(cpu_state)  # the CPU stream comes back on its own
    np.testing.assert_array_equal(mg.randn(4).numpy(), cpu_after)

    # reading the key starts a new stream: the numbers after a second read differ from the first's
    mg.cuda.set_rng_state(state)
    mg.cuda.get_rng_state()
    assert not np.array_equal(mg.randn(2000, device=device).numpy(), after["randn"])


def test_a_generator_without_a_seed_keeps_its_device_key_and_bad_states_are_refused(device):
    g = mg.Generator(None)
    state = g.get_state("cuda")
    first = mg.randn(50, generator=g, device=device).numpy()
    g.set_state(state, "cuda")
    np.testing.assert_array_equal(mg.randn(50, generator=g, device=device).numpy(), first)
    with pytest.raises(ValueError, match=r"expected 24 bytes from get_state\(device='cuda'\)"):
        mg.cuda.set_rng_state(mg.get_rng_state())  # the CPU's 37 bytes
    with pytest.raises(ValueError, match=r"seed with a number in \[0, 2\*\*128\)"):
        mg.Generator(2 ** 130).get_state("cuda")
