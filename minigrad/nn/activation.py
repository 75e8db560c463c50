"""Activation modules that PyTorch code often builds: SiLU (swish) and LeakyReLU."""
from __future__ import annotations

from ..ops.pointwise import LeakyRelu
from .module import Module


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else negative_slope * x (computed out of place; `inplace` is accepted for PyTorch code)."""
    return LeakyRelu.apply(input, negative_slope)


class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return input * input.sigmoid()


class LeakyReLU(Module):
    """LeakyReLU(negative_slope=0.01): x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
