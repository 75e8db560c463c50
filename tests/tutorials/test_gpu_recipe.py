"""`minigrad train gpt --size gpu`: nanoGPT's config/train_shakespeare_char.py as a preset. Its settings
against nanoGPT's file, and a start on the CPU (a few iterations at a small batch: the real run
needs a GPU), with --lr-decay-iters running the first iterations of the 5000-iteration schedule."""
import json
import math

import pytest

from minigrad_tutorials import recipes
from minigrad_tutorials.cli import main

# config/train_shakespeare_char.py (nanoGPT), with train.py's defaults where the config is silent
NANOGPT = dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, dropout=0.2, learning_rate=1e-3,
               max_iters=5000, lr_decay_iters=5000, min_lr=1e-4, warmup_iters=100, eval_interval=250, eval_iters=200,
               beta2=0.99, weight_decay=0.1, grad_clip=1.0, bias=False)


def nanogpt_lr(it, c=NANOGPT):
    """nanoGPT train.py's get_lr."""
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
    return c["min_lr"] + 0.5 * (1 + math.cos(math.pi * ratio)) * (c["learning_rate"] - c["min_lr"])


@pytest.fixture(autouse=True)
def _no_real_corpora(monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)


def test_the_gpu_preset_is_nanogpts_shakespeare_char_config():
    preset = recipes.presets("gpt")["gpu"]
    for ours, theirs in [("n_layer", "n_layer"), ("n_head", "n_head"), ("n_embd", "n_embd"),
                         ("block_size", "block_size"), ("batch_size", "batch_size"), ("dropout", "dropout"),
                         ("lr", "learning_rate"), ("iters", "max_iters"), ("eval_interval", "eval_interval"),
                         ("eval_iters", "eval_iters")]:
        assert preset[ours] == NANOGPT[theirs], ours


def test_the_gpu_recipe_starts_on_the_cpu_on_nanogpts_schedule():
    trained = recipes.train("gpt", "builtin", size="gpu", iters=3, batch_size=2, eval_iters=1, sample_tokens=0,
                        lr_decay_iters=5000)
    model = trained.config["model"]
    assert (model["n_layer"], model["n_head"], model["n_embd"], model["block_size"]) == (6, 6, 384, 256)
    assert model["dropout"] == 0.2 and model["bias"] is False
    assert trained.history["lr"] == pytest.approx([nanogpt_lr(it) for it in range(3)])
    assert trained.history["eval_iter"] == [0, 3]  # every 250 iterations (and at the end)
    assert all(math.isfinite(v) for v in trained.history["loss"])
    assert trained.config["training"]["schedule"] == "warmup 100 + cosine to lr/10 over 5000 steps"


def test_the_command_runs_the_gpu_recipe_and_reports_val_loss_and_time(tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert main(["train", "gpt", "--size", "gpu", "--max-iters", "1", "--batch-size", "1", "--eval-iters", "1",
                 "--sample-tokens", "0", "--lr-decay-iters", "5000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "config.json").read_text())["results"]
    assert {"val_loss", "seconds"} <= set(results) and f"val_loss {results['val_loss']}" in printed


def test_the_gpu_size_is_for_gpt_only():
    with pytest.raises(ValueError, match="not defined for lstm"):
        recipes.train("lstm", "builtin", size="gpu", iters=1)
