"""Random numbers: one seeded generator per process, so that `manual_seed` makes runs repeat.

CPU tensors draw from numpy's PCG64 generator. Tensors on a GPU draw from cupy's generator on
the device, seeded from the same seed (made when first asked): device random numbers (dropout
masks, sampled tokens) never cross the bus. The two streams differ, so a seed gives the same
numbers on one device from run to run, not the same numbers on both devices. They are not
PyTorch's numbers for the same seed either; parity tests copy weights instead.
"""
from __future__ import annotations

import numpy as np


class Generator:
    """A seeded source of random arrays: numpy.random.Generator for the CPU, and a
    cupy.random.Generator per device array module, from the same seed."""

    def __init__(self, seed: int | None = None):
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None):
        self.seed = seed
        self.np = np.random.default_rng(seed)
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
            rng = self._device[xp] = xp.random.default_rng(self.seed)
        return rng

    def get_state(self):
        """The generator's whole state as a uint8 tensor (as torch.Generator.get_state): saved in a
        checkpoint and given back to set_state, the same numbers follow."""
        from .tensor import Tensor  # noqa: PLC0415  (random sits below tensor in the imports)

        state = self.np.bit_generator.state
        if state["bit_generator"] != "PCG64":
            raise RuntimeError(f"Generator.get_state: expected numpy's PCG64 bit generator, got {state['bit_generator']}")
        raw = (state["state"]["state"].to_bytes(16, "little") + state["state"]["inc"].to_bytes(16, "little")
               + bytes([state["has_uint32"]]) + int(state["uinteger"]).to_bytes(4, "little"))
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state):
        """Restore what get_state() returned (a uint8 tensor or array of 37 bytes)."""
        raw = np.asarray(new_state, dtype=np.uint8).reshape(-1)
        if raw.size != STATE_BYTES:
            raise ValueError(f"Generator.set_state: expected {STATE_BYTES} bytes from get_state(), got {raw.size}")
        raw = raw.tobytes()
        self.np.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little"),
        }
        return self


STATE_BYTES = 37  # PCG64: 128-bit state, 128-bit increment, a flag and a buffered 32-bit value


INITIAL_SEED = 0  # what a fresh process starts from (the tour resets each lesson to it)
default_generator = Generator(INITIAL_SEED)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (minigrad's analogue of torch.manual_seed), on every device."""
    return default_generator.manual_seed(int(seed))


def get_rng_state():
    """The default generator's state (torch.get_rng_state): a uint8 tensor to save with a checkpoint."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator from get_rng_state(): the draws (init, dropout, sampling) repeat."""
    default_generator.set_state(new_state)


def get_rng(generator: Generator | None = None, xp=np):
    """The generator (default: the process's) for arrays of module xp (default numpy)."""
    return (generator or default_generator).for_module(xp)
