"""Checkpoints: a state_dict to and from a safetensors file.

safetensors is a JSON header (names, dtypes, shapes, byte offsets) followed by the raw
bytes of every array. Loading it never runs code, unlike a pickled file, which is why this is the
only checkpoint format the project reads or writes.

A nested state saves too, so that one file can hold everything a run needs to resume:

    io.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "step": step, "rng": minigrad.get_rng_state()}, path)

Its arrays are stored under dotted names (`optimizer.state.0.exp_avg`), readable by any
safetensors reader; numbers, strings, None and the shape of the tree itself (dicts with their
int or str keys, lists, tuples) go into the header's metadata as JSON, and `load` rebuilds the
same structure. A flat {name: array} dict is stored exactly as before, without that entry.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .backend import to_numpy, xp_of


class CheckpointError(ValueError):
    """A file that is not a valid safetensors checkpoint (truncated, corrupted, or another format)."""


def _safetensors_numpy():
    try:
        import safetensors.numpy  # noqa: PLC0415  (optional dependency, imported on use)
    except ImportError as err:
        raise ImportError(
            "minigrad.io needs the safetensors package to read and write checkpoints: "
            'pip install "minigrad[io]"  (or: pip install safetensors)'
        ) from err
    return safetensors.numpy


def _to_numpy(name: str, value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        array = value
    elif hasattr(value, "numpy") and callable(value.numpy):  # minigrad.Tensor (on any device)
        array = value.numpy()
    elif xp_of(value) is not np:
        array = to_numpy(value)  # a bare device array: copy to the host
    elif isinstance(value, np.generic):
        array = np.asarray(value)
    else:
        raise TypeError(
            f"minigrad.io.save: value for key {name!r} is a {type(value).__name__}; expected a minigrad Tensor "
            "or a numpy array"
        )
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.dtype == object:
        raise TypeError(f"minigrad.io.save: value for key {name!r} has dtype object, which safetensors cannot store")
    # safetensors writes the raw buffer: it must be C-contiguous and in native byte order.
    # (not np.ascontiguousarray: it turns a 0-d array into shape (1,))
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    return array if array.flags.c_contiguous else array.copy(order="C")


TREE_KEY = "minigrad.tree"  # the metadata entry that holds a nested state's structure


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, np.generic)) or (hasattr(value, "numpy") and callable(value.numpy)) or (
        hasattr(value, "__cuda_array_interface__"))


def _flatten(state: dict):
    """(arrays by dotted name, the tree as JSON-ready data, or None for a flat dict of arrays)."""
    arrays = {}

    def encode(value, path):
        name = ".".join(path)
        if _is_array(value):
            if name in arrays:
                raise ValueError(f"minigrad.io.save: two entries are both stored as {name!r}; rename a key that "
                                 "contains a '.'")
            arrays[name] = _to_numpy(name, value)
            return {"t": name}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"minigrad.io.save: keys must be strings (or ints), got {k!r} ({type(k).__name__}) "
                                    f"in {name or 'the top level'!r}")
                items.append([k, encode(v, path + [str(k)])])
            return {"d": items}
        if isinstance(value, (list, tuple)):
            return {"l" if isinstance(value, list) else "u": [encode(v, path + [str(i)]) for i, v in enumerate(value)]}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(
            f"minigrad.io.save: value for key {name!r} is a {type(value).__name__}; expected a Tensor or an array, "
            "a number, a string, None, or a dict / list / tuple of them"
        )

    tree = encode(state, [])
    flat = all(isinstance(k, str) and _is_array(v) for k, v in state.items())
    return arrays, (None if flat else tree)


def _unflatten(tree, arrays):
    if isinstance(tree, dict):
        if "t" in tree:
            return arrays[tree["t"]]
        if "d" in tree:
            return {k: _unflatten(v, arrays) for k, v in tree["d"]}
        items = [_unflatten(v, arrays) for v in tree.get("l", tree.get("u", []))]
        return items if "l" in tree else tuple(items)
    return tree


def save(state_dict: dict, path, metadata: dict[str, str] | None = None) -> None:
    """Write `state_dict` to `path` as safetensors: {name: Tensor or array}, or a nested state
    (dicts, lists, tuples of arrays, numbers, strings, None), e.g. an optimizer's state_dict().
    `metadata`: optional {str: str} kept in the file's header."""
    st = _safetensors_numpy()
    if not isinstance(state_dict, dict):
        raise TypeError(f"minigrad.io.save: expected a dict of name -> array, got {type(state_dict).__name__}; "
                        "pass model.state_dict()")
    arrays, tree = _flatten(state_dict)
    if metadata is not None:
        bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
        if bad:
            raise TypeError(f"minigrad.io.save: metadata must map str to str; these entries do not: {bad!r}")
        if TREE_KEY in metadata:
            raise ValueError(f"minigrad.io.save: the metadata key {TREE_KEY!r} is minigrad's own; use another")
    if tree is not None:
        metadata = {**(metadata or {}), TREE_KEY: json.dumps(tree, allow_nan=True)}
    st.save_file(arrays, str(path), metadata=metadata)


def _check_path(path, where: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{where}: no checkpoint file at {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{where}: {str(path)!r} is a directory, not a safetensors file")
    return path


def _invalid(path: Path, why) -> CheckpointError:
    return CheckpointError(
        f"{str(path)!r} is not a valid safetensors file ({why}); it may be truncated or corrupted, or saved in "
        "another format (minigrad never reads pickled files such as .pt/.bin; convert them to safetensors)"
    )


def load_metadata(path) -> dict[str, str]:
    """The metadata dict stored in a safetensors file's header ({} when there is none)."""
    path = _check_path(path, "minigrad.io.load_metadata")
    header = _read_header(path)
    return {k: v for k, v in (header.get("__metadata__") or {}).items() if k != TREE_KEY}


def _read_header(path: Path) -> dict:
    """Parse the 8-byte length and the JSON header ourselves, for a clear error message."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise _invalid(path, f"the file has {size} bytes, fewer than the 8-byte header length")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > size - 8:
            raise _invalid(path, f"the header claims {header_len} bytes but the file has only {size - 8} after it")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _invalid(path, f"the header is not JSON: {err}") from None
    if not isinstance(header, dict):
        raise _invalid(path, "the header is not a JSON object")
    return header


def load(path) -> dict:
    """Read a safetensors file into {name: numpy array} (or the nested state that was saved); wrap
    arrays with `minigrad.tensor(...)` or pass the dicts to `load_state_dict`."""
    st = _safetensors_numpy()
    path = _check_path(path, "minigrad.io.load")
    header = _read_header(path)  # fails early, with our message, on files that are plainly not safetensors
    try:
        arrays = st.load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError (and others) on bad files
        raise _invalid(path, f"{type(err).__name__}: {err}") from None
    tree = (header.get("__metadata__") or {}).get(TREE_KEY)
    if tree is None:
        return arrays
    try:
        return _unflatten(json.loads(tree), arrays)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise _invalid(path, f"its {TREE_KEY!r} entry does not describe the arrays in it ({err})") from None
