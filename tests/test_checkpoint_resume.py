"""Checkpoints that resume: a run stopped at step k, saved with minigrad.io (model, optimizer,
scheduler, step and random state in one safetensors file) and restored into freshly built objects,
continues bit for bit like the run that never stopped."""
import math

import numpy as np
import pytest

pytest.importorskip("safetensors", reason="checkpoints are safetensors (pip install 'minigrad[io]')")

import minigrad as mg  # noqa: E402
from minigrad import io, nn, optim  # noqa: E402
from minigrad.optim import lr_scheduler  # noqa: E402

OPTIMIZERS = {
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=3e-3, amsgrad=True),
    "adamw": lambda ps: optim.AdamW([{"params": ps[:2], "lr": 2e-3}, {"params": ps[2:], "weight_decay": 0.0}], lr=4e-3),
}
SCHEDULERS = {
    "sgd_momentum": lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "adam": lambda o: lr_scheduler.WarmupCosineLR(o, warmup_iters=3, max_iters=12, min_lr=1e-4),
    "adamw": lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e)),
}
STEPS, STOP = 10, 4


def build(kind, seed):
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = OPTIMIZERS[kind](list(model.parameters()))
    return model, opt, SCHEDULERS[kind](opt)


def train(model, opt, sched, steps):
    """Batches and dropout masks come from minigrad's random state, so it must be restored too."""
    losses = []
    for _ in range(steps):
        x, y = mg.randn(8, 5), mg.randint(0, 3, (8,))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_a_run_restored_mid_way_continues_bit_for_bit(kind, tmp_path):
    model, opt, sched = build(kind, seed=0)
    uninterrupted = train(model, opt, sched, STEPS)
    final = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched = build(kind, seed=0)
    first = train(model, opt, sched, STOP)
    path = tmp_path / "ckpt.safetensors"
    io.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "step": STOP, "rng": mg.get_rng_state()}, path)
    del model, opt, sched

    model, opt, sched = build(kind, seed=123)  # fresh objects, other weights: everything must come from the file
    mg.randn(7)  # and the random stream moved on
    ckpt = io.load(path)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    mg.set_rng_state(ckpt["rng"])
    assert ckpt["step"] == STOP and isinstance(ckpt["step"], int)
    assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
    resumed = first + train(model, opt, sched, STEPS - STOP)

    assert resumed == uninterrupted  # exactly: same floats, not merely close
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), final[k])


def test_optimizer_and_scheduler_state_round_trip_through_a_file_with_their_types(tmp_path):
    model, opt, sched = build("adamw", seed=0)
    train(model, opt, sched, 2)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "extra": {"none": None, "inf": math.inf, "nested": [1, (2.5, "x")], 7: True}}
    io.save(state, tmp_path / "s.safetensors", metadata={"note": "kept"})
    back = io.load(tmp_path / "s.safetensors")
    assert io.load_metadata(tmp_path / "s.safetensors") == {"note": "kept"}
    groups, saved = back["optimizer"]["param_groups"], state["optimizer"]["param_groups"]
    assert groups == saved and isinstance(groups[0]["betas"], tuple)
    assert sorted(back["optimizer"]["state"]) == sorted(state["optimizer"]["state"])  # int keys stay ints
    for i, s in state["optimizer"]["state"].items():
        for name, value in s.items():
            np.testing.assert_array_equal(back["optimizer"]["state"][i][name], value)
    assert back["scheduler"] == {**state["scheduler"]}
    assert back["extra"] == state["extra"]
    # the arrays sit under dotted names any safetensors reader sees
    from safetensors.numpy import load_file

    assert "optimizer.state.0.exp_avg" in load_file(str(tmp_path / "s.safetensors"))


def test_a_flat_state_dict_is_stored_as_before():
    import json

    arrays, tree = io._flatten({"w": np.zeros(2), "b": mg.ones(3)})
    assert tree is None and sorted(arrays) == ["b", "w"]
    _, tree = io._flatten({"w": np.zeros(2), "step": 3})
    assert json.loads(json.dumps(tree)) == {"d": [["w", {"t": "w"}], ["step", 3]]}


def test_random_state_restores_the_same_draws():
    mg.manual_seed(5)
    mg.randn(3)
    state = mg.get_rng_state()
    assert state.dtype == mg.uint8 and state.shape == (37,)
    a = (mg.randn(4), mg.rand(2), mg.randint(0, 10, (3,)), nn.functional.dropout(mg.ones(6), 0.5))
    mg.set_rng_state(state)
    b = (mg.randn(4), mg.rand(2), mg.randint(0, 10, (3,)), nn.functional.dropout(mg.ones(6), 0.5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    g = mg.Generator(1)
    s = g.get_state()
    first = mg.randn(3, generator=g)
    g.set_state(s)
    np.testing.assert_array_equal(mg.randn(3, generator=g).numpy(), first.numpy())
    with pytest.raises(ValueError, match="expected 37 bytes"):
        mg.set_rng_state(np.zeros(5, dtype=np.uint8))
