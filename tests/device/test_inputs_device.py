"""nn.inputs on the device: mask_to_bias stays there and matches the CPU; token_ids leaves ids already on
the device there (no copy, no wait) and checks host ids before they cross."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.nn.inputs import mask_to_bias, token_ids

import standin


def test_mask_to_bias_matches_the_cpu(same_on_device):
    mask = np.array([[1, 0, 1], [0, 0, 1]])
    same_on_device(lambda dev: {"bias": np.isfinite(mask_to_bias(mg.tensor(mask, device=dev)).numpy()),
                                "padding": np.isfinite(mask_to_bias(mg.tensor(mask, device=dev), attend=False).numpy())})


def test_mask_to_bias_and_token_ids_copy_nothing_on_the_device(device, standin_only):
    mask, ids = mg.tensor(np.array([[1, 0]]), device=device), mg.tensor(np.array([[3, 1]]), device=device)
    with standin.transfers() as log:
        bias = mask_to_bias(mask)
        t = token_ids(ids, "M", vocab_size=4, device=device)
    assert log.to_device == [] and log.to_host == [], log
    assert bias.device == "cuda" and t.device == "cuda"


def test_host_ids_are_checked_before_they_cross(device):
    with pytest.raises(ValueError, match="token id -1 is outside the vocabulary"):
        token_ids(np.array([[0, -1]]), "M", vocab_size=4, device=device)
    assert backend.xp_of(token_ids(np.array([[0, 3]]), "M", vocab_size=4, device=device).data) is not np
