"""Loss modules beyond layers.py's CrossEntropyLoss and MSELoss."""
from __future__ import annotations

from . import functional as F
from .module import Module


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits (a sigmoid and the log-likelihood in one stable formula).

    `weight` scales each element's loss, `pos_weight` the positive term (one value per class);
    both are buffers, as in PyTorch's state dict."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("BCEWithLogitsLoss: size_average and reduce are deprecated in PyTorch and not supported "
                             "here; use reduction='mean', 'sum' or 'none'")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"BCEWithLogitsLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input, target):
        if tuple(input.shape) != tuple(target.shape):
            raise ValueError(f"BCEWithLogitsLoss: target shape {tuple(target.shape)} must equal the input shape "
                             f"{tuple(input.shape)}")
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)
