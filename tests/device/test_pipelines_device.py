"""The long paths on the device: the InstructGPT stages at their fast size, and `minigrad train
... --device cuda` / `minigrad sample --device cuda` for every kind of the recipes. (No lesson takes a
device argument; their models are the ones tested here and in test_models_device.py.)"""
import json
import math

import numpy as np
import pytest

from minigrad_tutorials import recipes
from minigrad_tutorials.cli import main
from minigrad_models.instructgpt.base import PretrainConfig, pretrain_base
from minigrad_models.instructgpt.pipeline import RLHFConfig, RLHFRun


def test_rlhf_stages_at_fast_size_run_on_the_device(device):
    config = RLHFConfig.fast()
    r = RLHFRun(config, seed=0, progress=False, device=device)
    r.run_all()
    for name, model in list(r.models.items()) + [("reward model", r.reward_model), ("value", r.value_model)]:
        assert {p.device for p in model.parameters()} == {"cuda"}, name
    assert [row["model"] for row in r.rows] == list(r.models)
    assert {"base", "SFT", "PPO", "DPO"} <= set(r.models)
    for row in r.rows + r.heldout_rows:
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, float)), row
    assert all(math.isfinite(v) for v in r.ppo_curves["reward"] + r.ppo_curves["kl"] + r.dpo_history["loss"])
    assert 0.0 <= r.reward_history["heldout_accuracy"] <= 1.0
    # pre-training has no dropout and draws its batches from a numpy generator: its first loss
    # (before any update) is the CPU's
    _, cpu = pretrain_base(r.task, r.tokenizer, r.gpt_config, PretrainConfig(**{**vars(config.pretrain), "steps": 1}))
    assert r.pretrain_history["loss"][0] == pytest.approx(cpu["loss"][0], rel=1e-4)


FAST = ["--size", "tiny", "--iters", "4", "--eval-interval", "2", "--sample-tokens", "8"]


@pytest.mark.parametrize("kind", recipes.KINDS)
def test_train_and_sample_on_the_device_from_the_command_line(kind, device, tmp_path, capsys):
    out = tmp_path / kind
    assert main(["train", kind, "--device", "cuda", "--out", str(out)] + FAST) == 0
    config = json.loads((out / "config.json").read_text())
    assert math.isfinite(config["results"]["val_loss"])
    if kind != "ngram":  # counting needs no GPU: the n-gram says so and ignores --device
        assert config["training"]["device"] == "cuda"
        trained = recipes.load(out, device="cuda")
        assert {p.device for p in trained.model.parameters()} == {"cuda"}
    prompt = {"bert": "the [MASK] sees the cat .", "bart": "The c_t sees the d_g."}.get(kind, "The ")
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(out), "--device", "cuda", "--prompt", prompt, "--tokens", "6"]) == 0
    assert prompt.split()[0].lower() in capsys.readouterr().out.lower()
    assert np.isfinite(config["results"]["train_loss"])


def test_train_resume_on_the_device_gives_the_uninterrupted_weights(device, tmp_path):
    """--resume on the device: the optimizer state goes back there, the device's random key too."""
    from minigrad import io

    common = ["--size", "tiny", "--device", "cuda", "--eval-interval", "3", "--eval-iters", "1", "--sample-tokens", "0",
              "--lr-decay-iters", "6"]
    whole, half, resumed = tmp_path / "whole", tmp_path / "half", tmp_path / "resumed"
    assert main(["train", "gpt", *common, "--iters", "6", "--out", str(whole)]) == 0
    assert main(["train", "gpt", *common, "--iters", "4", "--out", str(half)]) == 0
    assert main(["train", "gpt", *common, "--iters", "6", "--resume", str(half), "--out", str(resumed)]) == 0
    a, c = io.load(whole / "model.safetensors"), io.load(resumed / "model.safetensors")
    for k in a:
        # (exact on the stand-in; a real GPU may order its scatter-adds differently from run to run)
        np.testing.assert_allclose(a[k], c[k], rtol=0, atol=1e-6, err_msg=k)
    assert "cuda_rng" in io.load(resumed / "training_state.safetensors")
