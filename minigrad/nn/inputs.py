"""What a language model takes in besides its weights: token ids, checked, and attention masks,
made additive. One definition each, used by every model and attention layer.

    ids = token_ids(x, "GPT.forward", vocab_size=50257, device=model_device)
    bias = mask_to_bias(attention_mask, np.float32)   # 1/True = attend -> 0, 0/False = ignore -> -inf
"""
from __future__ import annotations

import numpy as np

from ..backend import check_index_range
from ..tensor import Tensor

_NEG_INF = float("-inf")


def token_ids(x, who: str, name: str = "input_ids", vocab_size: int | None = None, device=None,
              ndim: int | None = 2) -> Tensor:
    """Token ids (a list, a numpy array or a Tensor) as an int64 Tensor on `device` (default: where
    they are): host ids cross once, ids already on the device stay there. A 1-D sequence becomes
    one row when ndim=2. With vocab_size every id must lie in [0, vocab_size): a negative id is
    an error, never wrapped around to the end of the table. Host ids are checked here, before they
    cross; ids already on a GPU are left to the embedding lookup, which checks them there without
    making the host wait (the error surfaces where values next come back: backend.check_index_range)."""
    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if ndim == 2 and t.ndim == 1:
        t = t.unsqueeze(0)
    if (ndim is not None and t.ndim != ndim) or (t.numel() and t.dtype.kind not in "iub"):
        shape = " of shape (batch, seq_len)" if ndim == 2 else f" of {ndim} dims" if ndim else ""
        raise ValueError(f"{who}: {name} must be integer token ids{shape}, got shape {tuple(t.shape)} and "
                         f"dtype {t.dtype}")
    if vocab_size is not None and t.device == "cpu":  # ids on a GPU: the embedding checks them there
        check_index_range(t.data, vocab_size, lambda bad: (
            f"{who}: token id {bad} is outside the vocabulary [0, {vocab_size}) ({name}); negative ids do not wrap "
            "around. Check that the tokenizer matches the model's vocab_size"), error=ValueError)
    t = t.long()
    return t if device is None else t.to(device)


def mask_to_bias(mask, dtype=np.float32, attend=True):
    """An attention mask (bool, or integers/floats of 1 and 0) -> an additive bias Tensor of the
    same shape on the mask's device: 0 where the mask equals `attend` (a query may look there),
    -inf elsewhere. attend=True: transformers' attention_mask and SDPA's bool mask (1 = token);
    attend=False: PyTorch's key_padding_mask (True = padding)."""
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    keep = mask.data.astype(bool)
    xp = mask.xp
    return Tensor._make(xp.where(keep if attend else ~keep, 0.0, _NEG_INF).astype(dtype), False, None)
