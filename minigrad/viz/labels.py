"""Short text for labels: shapes, numbers, array summaries, an op's arguments."""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from .args import recorded_arguments, scalar_arguments

# op attributes worth seeing in the label: the ones that change what the op computes
SHOWN_ATTRIBUTES = ("dim", "dims", "k", "approximate", "padding_idx", "reduction", "label_smoothing")


def fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt_number(x) -> str:
    return f"{float(x):.4g}" if np.issubdtype(type(x), np.floating) or isinstance(x, float) else str(x)


def summarize(array, small: int = 8, shown: int = 3) -> str:
    """A few numbers that describe an array: all of them when it is small, else the first few and
    the norm (the sqrt of the sum of squares: how big the values are, together)."""
    a = np.asarray(to_numpy(array))
    if a.size == 0:
        return "[]"
    if a.dtype.kind == "b":
        return f"{int(a.sum())} of {a.size} True" if a.size > small else str(a.tolist()).replace("'", "")
    if a.size <= small:
        flat = ", ".join(fmt_number(v) for v in a.reshape(-1).tolist())
        return flat if a.ndim == 0 else f"[{flat}]"
    if a.dtype.kind in "iu":
        return f"{a.reshape(-1)[:small].tolist()}".rstrip("]") + ", ...]"
    a = a.astype(np.float64)
    first = ", ".join(fmt_number(v) for v in a.reshape(-1)[:shown].tolist())
    return f"[{first}, ...] norm {np.sqrt((a * a).sum()):.4g}"


def nonzero_rows(grad) -> str | None:
    """For a 2-D (or more) gradient with some all-zero rows: which rows got a gradient."""
    g = np.asarray(to_numpy(grad))
    if g.ndim < 2 or g.shape[0] < 2:
        return None
    rows = np.flatnonzero(np.abs(g.reshape(g.shape[0], -1)).sum(axis=1))
    if len(rows) == g.shape[0]:
        return None
    shown = ", ".join(str(r) for r in rows[:6]) + (", ..." if len(rows) > 6 else "")
    return f"nonzero rows: [{shown}] of {g.shape[0]}"


def fmt_index(index) -> str:
    def one(i):
        if isinstance(i, slice):
            parts = ["" if v is None else str(v) for v in (i.start, i.stop)]
            text = ":".join(parts) if any(parts) else ":"
            return text + (f":{i.step}" if i.step not in (None, 1) else "")
        if i is None:
            return "None"
        if i is Ellipsis:
            return "..."
        if hasattr(i, "shape") and hasattr(i, "dtype") and len(i.shape) > 0:  # an array, or what backward left of it
            return "mask" if np.dtype(i.dtype).kind == "b" else "idx"
        return str(int(i)) if hasattr(i, "__index__") else str(i)

    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(one(i) for i in parts) + "]"


def op_details(fn) -> list:
    """The arguments that say what an op computed: dims, an index pattern, numbers.

    Read when the graph is traced: backward frees what the op kept (release() empties it).
    """
    attrs = vars(fn)
    name = fn.name()
    details = []
    if name in ("GetItem", "SetItem", "IndexAccumulate") and "index" in attrs:
        details.append(fmt_index(attrs["index"]))
    recorded = recorded_arguments(fn)  # what the engine kept through backward, if it does
    for key in SHOWN_ATTRIBUTES:
        value = attrs.get(key, recorded.get(key))
        if value is None or (key == "label_smoothing" and not value):
            continue
        details.append(f"{key}={tuple(value) if isinstance(value, list) else value}")
    for pos, value in scalar_arguments(fn).items():
        details.append(f"arg{pos}={fmt_number(value)}")
    return details
