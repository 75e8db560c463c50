"""Checkpoints from and into a model on the device, and the index checks that run on the device
without making the host wait (backend.check_index_range)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, io, nn, optim
from minigrad.nn import functional as F
from minigrad.optim import lr_scheduler

import standin


def test_save_from_the_device_and_load_into_the_device(device, tmp_path):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 2)).to(device)
    io.save(model.state_dict(), tmp_path / "m.safetensors")
    io.save({"bare": model[2].weight.data}, tmp_path / "bare.safetensors")  # a bare device array
    loaded = io.load(tmp_path / "m.safetensors")
    assert all(isinstance(v, np.ndarray) for v in loaded.values())
    mg.manual_seed(1)
    other = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 2)).to(device)
    other.load_state_dict(loaded)
    for (name, p), q in zip(model.named_parameters(), other.parameters()):
        assert q.device == "cuda", name
        np.testing.assert_array_equal(q.numpy(), p.numpy(), err_msg=name)
    np.testing.assert_array_equal(io.load(tmp_path / "bare.safetensors")["bare"], model[2].weight.numpy())
    other.load_state_dict({k: v.data for k, v in model.state_dict().items()})  # bare device arrays load too


BAD_INDEX_CALLS = {
    "embedding": (lambda dev: F.embedding(mg.tensor([[1, 7]], device=dev), mg.randn(5, 2, device=dev)),
                  IndexError, "embedding: index 7 is out of range for a table of 5 rows"),
    "negative embedding": (lambda dev: F.embedding(mg.tensor([-1, 2], device=dev), mg.randn(5, 2, device=dev)),
                           IndexError, "embedding: index -1 is out of range.*not wrapped around"),
    "cross_entropy": (lambda dev: F.cross_entropy(mg.randn(3, 4, device=dev), mg.tensor([0, 4, 1], device=dev)),
                      IndexError, "cross_entropy: target 4 is out of range for 4 classes"),
    "nll_loss": (lambda dev: F.nll_loss(mg.randn(3, 4, device=dev), mg.tensor([0, -2, 1], device=dev)),
                 IndexError, "nll_loss: target -2 is out of range for 4 classes"),
    "gather": (lambda dev: mg.randn(2, 3, device=dev).gather(1, mg.tensor([[0], [3]], device=dev)),
               IndexError, "gather: index 3 is out of range for dim 1"),
    "one_hot": (lambda dev: F.one_hot(mg.tensor([0, 5], device=dev), 3), ValueError,
                "one_hot: class value 5 does not fit num_classes=3"),
    "lengths": (lambda dev: nn.GRU(2, 2).to(dev)(mg.randn(3, 2, 2, device=dev), lengths=mg.tensor([3, 4], device=dev))[0],
                ValueError, r"GRU: every length must lie in \[1, 3\] \(the time dim\), got a length of 4"),
    "positions": (lambda dev: nn.LearnedPositionalEmbedding(4, 2).to(dev)(mg.tensor([1, 4], device=dev)),
                  IndexError, "LearnedPositionalEmbedding: position 4 is outside the table of num_positions=4"),
}


@pytest.mark.parametrize("name", sorted(BAD_INDEX_CALLS))
def test_a_bad_index_raises_at_once_on_the_cpu(name):
    call, error, message = BAD_INDEX_CALLS[name]
    with pytest.raises(error, match=message):
        call("cpu")


@pytest.mark.parametrize("name", sorted(BAD_INDEX_CALLS))
def test_a_bad_index_on_the_device_raises_where_values_next_reach_the_host(name, device):
    """No sync in the op: the check waits on the device and fires at the next copy to the host
    (here loss.item()), naming the op and the bad value; it is never silently wrapped around."""
    call, error, message = BAD_INDEX_CALLS[name]
    out = call(device)
    with pytest.raises(error, match=message):
        out.sum().item()
    assert not backend._pending


def test_good_indices_on_the_device_pass_and_are_read_in_one_copy(device, standin_only):
    w = mg.randn(5, 2, device=device)
    idx = mg.tensor([[0, 4], [2, 3]], device=device)
    with standin.transfers() as log:
        for _ in range(3):
            out = F.embedding(idx, w)
        assert log.to_host == []  # three lookups, nothing read yet
        out.sum().item()
    assert [what for what, _ in log.to_host] == ["get()", "item()"]  # the checks' bounds, then the value


def _resumable(device, seed):
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 3)).to(device)
    opt = optim.Adam(model.parameters(), lr=3e-3, amsgrad=True)
    return model, opt, lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def _train(model, opt, sched, steps, device):
    """Batches and dropout masks are drawn on the device, by the device's generator."""
    losses = []
    for _ in range(steps):
        x, y = mg.randn(8, 5, device=device), mg.randint(0, 3, (8,), device=device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


STEPS, STOP = 6, 2


def _checkpoint(model, opt, sched):
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "step": STOP, "rng": mg.get_rng_state(), "cuda_rng": mg.cuda.get_rng_state()}


def test_a_device_run_saved_with_its_optimizer_and_device_random_state_resumes_bit_for_bit(device, tmp_path):
    """Nested optimizer state (Adam's moments on the device) goes to a file and back into fresh
    objects on the device; with the device generator's key restored, dropout masks and batches
    repeat, so the losses match the run that never stopped (which read the key at the same step)."""
    model, opt, sched = _resumable(device, seed=0)
    uninterrupted = _train(model, opt, sched, STOP, device)
    _checkpoint(model, opt, sched)  # the uninterrupted run reads the state where the other one saves it
    uninterrupted += _train(model, opt, sched, STEPS - STOP, device)

    model, opt, sched = _resumable(device, seed=0)
    first = _train(model, opt, sched, STOP, device)
    io.save(_checkpoint(model, opt, sched), tmp_path / "ckpt.safetensors")

    def resume(restore_device_rng):
        model, opt, sched = _resumable(device, seed=123)  # other weights, another stream: all must come from the file
        ckpt = io.load(tmp_path / "ckpt.safetensors")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        mg.set_rng_state(ckpt["rng"])
        if restore_device_rng:
            mg.cuda.set_rng_state(ckpt["cuda_rng"])
        assert {backend.device_of(v) for s in opt.state.values() for v in s.values() if hasattr(v, "shape")} == {"cuda"}
        return first + _train(model, opt, sched, STEPS - STOP, device)

    assert resume(restore_device_rng=True) == uninterrupted  # exactly: the same floats
    assert resume(restore_device_rng=False) != uninterrupted  # the device key is what makes it repeat
