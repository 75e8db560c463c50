"""What each positional argument of a recorded op was, from what the op kept.

`next_functions` says which arguments carry a gradient; for the others it holds None, whether
the argument was an integer index, a bool mask, a tensor that does not require grad, or a plain
number. To draw the inputs that take no gradient (the cut edges of a hard lookup) we look, in
this order, at:
  1. `node._input_meta`, when the engine records it (kept through backward, unlike the rest):
     one entry per positional argument, an object with `.shape`, `.dtype` and `.name` for an
     array or a tensor, the value itself for a number, a dim or a flag;
  2. the inputs the op saved for backward (`save_for_backward`), until backward frees them;
  3. the attributes its forward kept: `shapes` of the elementwise ops, and the index/mask
     arrays of the lookups (`idx`, `index`, `cond`) listed in ARRAY_ARGUMENTS below.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from ..tensor import Tensor

# op name -> {argument position: attribute that holds that argument's array}
ARRAY_ARGUMENTS = {
    "Where": {0: "cond"},
    "Embedding": {1: "idx"},
    "Gather": {2: "index"},
    "IndexSelect": {2: "index"},
    "ScatterAdd": {2: "index"},
    "GetItem": {1: "index"},
    "IndexAccumulate": {1: "index"},
    "SetItem": {2: "index"},
    "CrossEntropy": {1: "t_safe"},
}
# the elementwise ops keep their two operands' shapes in `shapes` (None for a Python number);
# Where keeps those of its two branches, arguments 1 and 2
SHAPES_POSITIONS = {"Where": (1, 2)}


@dataclass
class ArgInfo:
    shape: tuple | None = None
    dtype: str | None = None
    name: str | None = None
    tensor: Tensor | None = None
    array: object = None
    value: object = None  # a Python number
    is_array: bool = False

    @property
    def kind(self) -> str:
        return kind_of(self.dtype)


def kind_of(dtype) -> str:
    """index for integers, mask for bools, constant for floats (and when unknown)."""
    if dtype is None:
        return "constant"
    kind = getattr(dtype, "kind", None) or _dtype_kind(str(dtype))
    return {"i": "index", "u": "index", "b": "mask"}.get(kind, "constant")


def _dtype_kind(name: str) -> str:
    if name.startswith(("int", "uint")):
        return "i"
    if name == "bool":
        return "b"
    return "f"


def _array_info(a) -> ArgInfo | None:
    """ArgInfo for a Tensor or a raw array; for an index tuple, its first array component."""
    if isinstance(a, Tensor):
        return ArgInfo(tuple(a.shape), str(a.dtype), a.name, tensor=a, is_array=True)
    if isinstance(a, tuple):
        for part in a:
            if hasattr(part, "shape") and hasattr(part, "dtype"):
                return _array_info(part)
        return None
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return ArgInfo(tuple(a.shape), str(a.dtype), array=a, is_array=True)
    return None


def argument_info(fn) -> list:
    """One ArgInfo (or None when nothing is known) per positional argument of the op `fn`."""
    n = len(fn.next_functions)
    info: list = [None] * n
    name = fn.name()

    meta = getattr(fn, "_input_meta", None)
    if meta is not None:
        for i, m in enumerate(meta[:n]):
            if hasattr(m, "shape") and hasattr(m, "dtype"):  # (shape, dtype, name) of an array argument
                info[i] = ArgInfo(tuple(m.shape), str(m.dtype), getattr(m, "name", None), is_array=True)
            elif isinstance(m, (int, float)):
                info[i] = ArgInfo(value=m)

    attrs = vars(fn)
    shapes = attrs.get("shapes")
    if isinstance(shapes, tuple):
        positions = SHAPES_POSITIONS.get(name, (0, 1))
        for pos, s in zip(positions, shapes):
            if pos < n and info[pos] is None:
                # a None shape was a Python number: nothing to draw, its value is not kept
                info[pos] = ArgInfo(tuple(s), is_array=True) if s is not None else ArgInfo()
    for pos, attr in ARRAY_ARGUMENTS.get(name, {}).items():
        if pos < n and attr in attrs:
            found = _array_info(attrs[attr])
            if found is not None and (info[pos] is None or info[pos].array is None):
                if info[pos] is not None and info[pos].name:
                    found.name = info[pos].name
                info[pos] = found

    saved = fn._saved
    if saved is not None:  # the saved tensors themselves: the best description, while they live
        for a, _version, i in saved:
            if i is None or i >= n:  # a None saved in an argument's place
                continue
            found = _array_info(a)
            if found is not None:
                info[i] = found
            elif isinstance(a, (int, float, bool)) and info[i] is None:
                info[i] = ArgInfo(value=a)
    return info


def scalar_arguments(fn) -> dict:
    """{position: number} for the plain numbers an op was called with, where they were kept."""
    out = {}
    saved = fn._saved
    if saved is not None:
        for a, _version, i in saved:
            if isinstance(a, (int, float)) and not isinstance(a, bool):
                out[i] = a
    return out


def recorded_arguments(fn) -> dict:
    """{parameter name: value} of the non-array arguments in `node._input_meta` (dims, flags),
    named after the op's forward signature; empty when the engine does not record them."""
    meta = getattr(fn, "_input_meta", None)
    if meta is None:
        return {}
    try:
        names = list(inspect.signature(type(fn).forward).parameters)[1:]  # without ctx
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, m in zip(names, meta):
        if m is None or hasattr(m, "shape") or name.startswith("*"):
            continue
        if isinstance(m, (int, float, str, tuple)) and not isinstance(m, bool):
            out[name] = tuple(m) if isinstance(m, list) else m
    return out
