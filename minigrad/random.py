"""Random numbers: one seeded generator per process, so that `manual_seed` makes runs repeat.

CPU tensors draw from numpy's PCG64 generator. Tensors on a GPU draw from cupy's generator on
the device, seeded from the same seed (made when first asked): device random numbers (dropout
masks, sampled tokens) never cross the bus. The two streams differ, so a seed gives the same
numbers on one device from run to run, not the same numbers on both devices. They are not
PyTorch's numbers for the same seed either; parity tests copy weights instead.

Saving and restoring the state, as PyTorch separates torch.get_rng_state and
torch.cuda.get_rng_state:

    minigrad.get_rng_state()        the CPU generator: PCG64's 37 bytes; reading it changes nothing
    minigrad.cuda.get_rng_state()   the device generator: its key (seed, epoch), 24 bytes

cupy's generator keeps its state in device memory (one cuRAND state per thread, megabytes) with
no public way to read it back, so the device stream is keyed instead: it is cupy's generator
seeded from (seed, epoch), and reading the device state starts the stream of the next epoch
and returns that key. Restoring the key restarts the same stream, so a run resumed from a
checkpoint draws the same device numbers as the run that wrote it. The price: reading the device
state changes the device numbers that follow, so a run compared with a resumed one must read it
at the same step (as a run that writes checkpoints does). manual_seed starts epoch 0.
"""
from __future__ import annotations

import numpy as np

from . import autograd
from .backend import normalize_device, to_numpy, xp_of


class Generator:
    """A seeded source of random arrays: numpy.random.Generator for the CPU, and a
    cupy.random.Generator per device array module, from the same seed."""

    def __init__(self, seed: int | None = None):
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None):
        self.seed = seed
        self.np = np.random.default_rng(seed)
        # the device stream's key; without a seed, fresh entropy, kept so that the key can be saved
        self._device_key = (np.random.SeedSequence().entropy if seed is None else seed, 0)
        self._device: dict = {}  # array module -> its generator, made on first use
        return self

    def initial_seed(self):
        return self.seed

    def for_module(self, xp):
        """The generator that draws arrays of module xp (numpy, or cupy: then only its
        Generator's methods random, standard_normal, integers and uniform exist)."""
        if xp is np:
            return self.np
        rng = self._device.get(xp)
        if rng is None:
            rng = self._device[xp] = xp.random.default_rng(list(self._device_key))
        return rng

    def get_state(self, device="cpu"):
        """The generator's state as a uint8 tensor (as torch.Generator.get_state): saved in a
        checkpoint and given back to set_state, the same numbers follow.

        device="cpu": numpy's PCG64 state (37 bytes); reading it changes nothing.
        device="cuda": the device stream's key (seed, epoch) (24 bytes); reading it starts the next
        epoch's stream (see the module docstring: cupy's state cannot be read back)."""
        if normalize_device(device) == "cuda":
            seed, epoch = self._device_key
            if not 0 <= seed < 2 ** 128:
                raise ValueError(f"Generator.get_state(device='cuda'): the seed {seed} does not fit the 16 bytes of "
                                 "the saved key; seed with a number in [0, 2**128)")
            self._device_key, self._device = (seed, epoch + 1), {}
            raw = seed.to_bytes(16, "little") + (epoch + 1).to_bytes(8, "little")
            return _bytes_tensor(raw)
        state = self.np.bit_generator.state
        if state["bit_generator"] != "PCG64":
            raise RuntimeError(f"Generator.get_state: expected numpy's PCG64 bit generator, got {state['bit_generator']}")
        raw = (state["state"]["state"].to_bytes(16, "little") + state["state"]["inc"].to_bytes(16, "little")
               + bytes([state["has_uint32"]]) + int(state["uinteger"]).to_bytes(4, "little"))
        return _bytes_tensor(raw)

    def set_state(self, new_state, device="cpu"):
        """Restore what get_state(device) returned (a uint8 tensor or array)."""
        device = normalize_device(device)
        expected = DEVICE_STATE_BYTES if device == "cuda" else STATE_BYTES
        if hasattr(new_state, "numpy"):  # a Tensor, on either device
            new_state = new_state.numpy()
        elif xp_of(new_state) is not np:  # a bare device array
            new_state = to_numpy(new_state)
        raw = np.asarray(new_state, dtype=np.uint8).reshape(-1)
        if raw.size != expected:
            raise ValueError(f"Generator.set_state(device={device!r}): expected {expected} bytes from "
                             f"get_state(device={device!r}), got {raw.size}")
        raw = raw.tobytes()
        if device == "cuda":
            self._device_key = (int.from_bytes(raw[:16], "little"), int.from_bytes(raw[16:], "little"))
            self._device = {}
            return self
        self.np.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little"),
        }
        return self


STATE_BYTES = 37  # PCG64: 128-bit state, 128-bit increment, a flag and a buffered 32-bit value
DEVICE_STATE_BYTES = 24  # the device stream's key: a 128-bit seed and a 64-bit epoch


INITIAL_SEED = 0  # what a fresh process starts from (the tour resets each lesson to it)
default_generator = Generator(INITIAL_SEED)


def _bytes_tensor(raw: bytes):
    """A state as a uint8 Tensor. The class comes through autograd, where tensor.py registers it:
    tensor.py draws from this module (uniform_, normal_), so this module cannot import it back."""
    return autograd.Tensor._make(np.frombuffer(raw, dtype=np.uint8).copy(), False, None)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (minigrad's analogue of torch.manual_seed), on every device."""
    return default_generator.manual_seed(int(seed))


def get_rng_state():
    """The default generator's state (torch.get_rng_state): a uint8 tensor to save with a checkpoint."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator from get_rng_state(): the draws (init, dropout, sampling) repeat."""
    default_generator.set_state(new_state)


def get_device_rng_state(device="cuda"):
    """The default generator's device key (torch.cuda.get_rng_state; `minigrad.cuda.get_rng_state`):
    a uint8 tensor to save with a checkpoint. Reading it starts the next epoch's device stream."""
    return default_generator.get_state(device)


def set_device_rng_state(new_state, device="cuda") -> None:
    """Restore the device stream from get_device_rng_state(): device draws (dropout masks) repeat."""
    default_generator.set_state(new_state, device)


def get_rng(generator: Generator | None = None, xp=np):
    """The generator (default: the process's) for arrays of module xp (default numpy)."""
    return (generator or default_generator).for_module(xp)
