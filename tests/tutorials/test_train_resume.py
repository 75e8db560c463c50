"""`minigrad train KIND --resume DIR`: a run stopped after k steps and resumed from its checkpoint
(model, optimizer, scheduler, step and random states) gives the uninterrupted run's losses and final
weights exactly, through the command line and through recipes.train."""
import numpy as np
import pytest

pytest.importorskip("safetensors", reason="checkpoints are safetensors (pip install 'minigrad[io]')")

from minigrad import io as mgio  # noqa: E402
from minigrad_tutorials import recipes  # noqa: E402
from minigrad_tutorials.cli import main  # noqa: E402

# 10 steps, stopped at 5 (the first 5 of the same 10-step schedule: --lr-decay-iters 10): an
# evaluation every 4 steps, so the stopped run's closing evaluation (at 5) is one the uninterrupted
# run never makes; both must still agree
COMMON = ["--size", "tiny", "--eval-interval", "4", "--eval-iters", "2", "--sample-tokens", "0",
          "--lr-decay-iters", "10"]
STEPS, STOP = 10, 5


@pytest.fixture(autouse=True)
def _no_real_corpora(monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)


def weights(folder):
    return mgio.load(folder / "model.safetensors")


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_cli_resume_gives_the_uninterrupted_weights(kind, tmp_path):
    whole, half, resumed = tmp_path / "whole", tmp_path / "half", tmp_path / "resumed"
    assert main(["train", kind, *COMMON, "--iters", str(STEPS), "--out", str(whole)]) == 0
    assert main(["train", kind, *COMMON, "--iters", str(STOP), "--out", str(half)]) == 0
    assert main(["train", kind, *COMMON, "--iters", str(STEPS), "--resume", str(half), "--out", str(resumed)]) == 0
    a, b, c = weights(whole), weights(half), weights(resumed)
    assert any(not np.array_equal(a[k], b[k]) for k in a)  # the half run really stopped earlier
    for k in a:
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    assert mgio.load(resumed / "training_state.safetensors")["step"] == STEPS


def test_resumed_losses_are_the_uninterrupted_ones(tmp_path):
    settings = dict(size="tiny", eval_interval=4, eval_iters=2, sample_tokens=0, progress=False, lr_decay_iters=STEPS)
    whole = recipes.train("gpt", "builtin", log=lambda line: None, iters=STEPS, **settings)
    half = recipes.train("gpt", "builtin", log=lambda line: None, iters=STOP, **settings)
    recipes.save(half, tmp_path / "half")
    resumed = recipes.train("gpt", "builtin", log=lambda line: None, iters=STEPS, resume=str(tmp_path / "half"),
                        **settings)
    assert half.history["loss"] + resumed.history["loss"] == whole.history["loss"]  # exactly: the same floats
    assert resumed.history["iter"] == list(range(STOP, STEPS))
    assert resumed.history["eval_iter"] == [8, 10] and whole.history["eval_iter"] == [0, 4, 8, 10]
    assert resumed.history["val_loss"] == whole.history["val_loss"][2:]


def test_resume_refuses_another_run(tmp_path):
    half = tmp_path / "half"
    assert main(["train", "gpt", *COMMON, "--iters", str(STOP), "--out", str(half)]) == 0
    with pytest.raises(ValueError, match="--resume .* holds a gpt model"):
        recipes.train("lstm", "builtin", size="tiny", iters=STEPS, resume=str(half), log=lambda line: None)
    with pytest.raises(ValueError, match="at step 5, past --iters 3"):
        recipes.train("gpt", "builtin", size="tiny", iters=3, resume=str(half), log=lambda line: None)
    with pytest.raises(ValueError, match="--resume works for rnn, lstm, gru and gpt"):
        recipes.train("bert", "builtin", size="tiny", iters=3, resume=str(half), log=lambda line: None)
    (half / "training_state.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no training_state.safetensors"):
        recipes.train("gpt", "builtin", size="tiny", iters=STEPS, resume=str(half), log=lambda line: None)
