"""Random numbers for device tensors are drawn on the device, by the device's generator seeded
from the same manual_seed: factories, in-place fills, layer initialisation, multinomial."""
import numpy as np

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
