"""Which dtype a binary op computes in: PyTorch's rules (torch.result_type), not numpy's.

    int64 tensor   + float32 tensor    -> float32   (numpy: float64)
    float32 tensor + float64 tensor    -> float64
    float32 tensor + float64 0-d tensor -> float32  (numpy: float64)
    int64 tensor   + 1.5               -> float32   (the default float; numpy: float64)
    float32 tensor + 1.5               -> float32   (a Python number never widens a tensor of its kind)

Operands rank in three tiers: tensors with dims, 0-d tensors, Python numbers. Within a tier
dtypes promote as usual (an integer meeting a float becomes that float). A lower tier changes
the result only when it brings a higher kind (bool < integer < float): then the two promote.
"""
from __future__ import annotations

import numpy as np

DEFAULT_FLOAT = np.dtype(np.float32)
_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def promote_types(a, b):
    """The dtype both a and b fit in, as torch.promote_types: an integer meeting a float is that
    float (int64 + float16 -> float16), otherwise numpy's promotion."""
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    if a.kind in "fc" and b.kind in "biu":
        return a
    if b.kind in "fc" and a.kind in "biu":
        return b
    return np.promote_types(a, b)


def _number_dtype(x):
    """The dtype a Python number stands for: bool, int64, or the default float."""
    if isinstance(x, bool):
        return _BOOL
    if isinstance(x, int):
        return _INT64
    if isinstance(x, float):
        return DEFAULT_FLOAT
    raise TypeError(f"expected a tensor or a Python number, got {type(x).__name__}")


def _combine(higher, lower):
    """A higher tier's dtype, changed by a lower tier's only when that brings a higher kind."""
    if higher is None:
        return lower
    if lower is None or _KIND_RANK[higher.kind] >= _KIND_RANK[lower.kind]:
        return higher
    return promote_types(higher, lower)


def result_type(*operands):
    """The dtype PyTorch computes an op on these operands in (tensors, arrays or Python numbers)."""
    dims = zero = number = None
    for x in operands:
        if hasattr(x, "dtype") and hasattr(x, "ndim"):
            if x.ndim:
                dims = x.dtype if dims is None else promote_types(dims, x.dtype)
            else:
                zero = x.dtype if zero is None else promote_types(zero, x.dtype)
        else:
            d = _number_dtype(x)
            number = d if number is None else promote_types(number, d)
    return _combine(dims, _combine(zero, number))


def can_cast(source, target) -> bool:
    """Whether an in-place op may write a result of dtype source into a tensor of dtype target
    (torch.can_cast: never to a lower kind, float into int or int into bool)."""
    return _KIND_RANK[np.dtype(source).kind] <= _KIND_RANK[np.dtype(target).kind]
