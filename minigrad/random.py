"""Random numbers: one seeded generator per process, so that `manual_seed` makes runs repeat.

Values are drawn with numpy's PCG64 generator on the CPU (and moved to the GPU when asked):
a seed gives the same numbers on either device. They are not PyTorch's numbers for the same
seed; parity tests copy weights instead.
"""
from __future__ import annotations

import numpy as np


class Generator:
    """A seeded source of random arrays (wraps numpy.random.Generator)."""

    def __init__(self, seed: int | None = None):
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None):
        self.seed = seed
        self.np = np.random.default_rng(seed)
        return self

    def initial_seed(self):
        return self.seed


INITIAL_SEED = 0  # what a fresh process starts from (the tour resets each lesson to it)
default_generator = Generator(INITIAL_SEED)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (minigrad's analogue of torch.manual_seed)."""
    return default_generator.manual_seed(int(seed))


def get_rng(generator: Generator | None = None) -> np.random.Generator:
    return (generator or default_generator).np
