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


INITIAL_SEED = 0  # what a fresh process starts from (the tour resets each lesson to it)
default_generator = Generator(INITIAL_SEED)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (minigrad's analogue of torch.manual_seed), on every device."""
    return default_generator.manual_seed(int(seed))


def get_rng(generator: Generator | None = None, xp=np):
    """The generator (default: the process's) for arrays of module xp (default numpy)."""
    return (generator or default_generator).for_module(xp)
