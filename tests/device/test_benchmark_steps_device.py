"""The training steps that `minigrad bench --device cuda` times (benchmarks/gpt_train.py, lstm_train.py)
never wait for the device: on the stand-in, a step copies the batch in and nothing out, on the array
path and on the fused kernels' path (their references standing in), float32 and mixed precision
(whose GradScaler reads one flag a step, as PyTorch's does). A host sync inside a step would stall
the GPU's queue at every step and show in the benchmark as lost speed."""
import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.ops import cuda_kernels
from minigrad_models.gpt import GPT, GPTConfig

import standin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpt_train  # noqa: E402
import lstm_train  # noqa: E402


def host_batches(shape, vocab, n=2):
    g = np.random.default_rng(0)
    return [(g.integers(0, vocab, shape), g.integers(0, vocab, shape)) for _ in range(n)]


def gpt_steps(device, mixed):
    mg.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=13, n_layer=2, n_head=2, n_embd=32, bias=False)).to(device)
    return gpt_train.minigrad_trainer(model, host_batches((3, 16), 13), steps=2, device=device, mixed=mixed)


def lstm_steps(device):
    mg.manual_seed(0)
    model = lstm_train.char_lstm(nn).to(device)
    batches = lstm_train.random_batches(n=2)
    data = [(mg.tensor(x, device=device), mg.tensor(y, device=device)) for x, y in batches]
    return lstm_train.trainer(nn, model, optim.Adam(model.parameters(), lr=1e-3), data)


@pytest.mark.parametrize("path", ["arrays", "kernels"])
@pytest.mark.parametrize("case", ["gpt float32", "gpt mixed precision", "char lstm"])
def test_a_benchmarked_training_step_never_waits_for_the_device(case, path, device, standin_only):
    with cuda_kernels.references() if path == "kernels" else contextlib.nullcontext():
        steps = lstm_steps(device) if case == "char lstm" else gpt_steps(device, mixed="mixed" in case)
        steps()  # the first steps lay out what the later ones reuse (the optimizer's flat buffers)
        with standin.transfers() as log:
            steps()
    flags = [("bool()", 1)] * 2 if "mixed" in case else []  # the scaler's overflow check, one a step
    assert log.to_host == flags, log
    assert log.to_device == [], log  # the benchmark moves its batches to the device once, beforehand
