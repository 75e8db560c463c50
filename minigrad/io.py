"""Checkpoints: a state_dict to and from a safetensors file.

safetensors is a JSON header (names, dtypes, shapes, byte offsets) followed by the raw
bytes of every array. Loading it never runs code, unlike a pickled file, which is why this is the
only checkpoint format the project reads or writes.
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


def save(state_dict: dict, path, metadata: dict[str, str] | None = None) -> None:
    """Write `state_dict` ({name: Tensor or numpy array}) to `path` as safetensors.
    `metadata`: optional {str: str} kept in the file's header."""
    st = _safetensors_numpy()
    if not isinstance(state_dict, dict):
        raise TypeError(f"minigrad.io.save: expected a dict of name -> array, got {type(state_dict).__name__}; "
                        "pass model.state_dict()")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"minigrad.io.save: keys must be strings, got {name!r} ({type(name).__name__})")
        arrays[name] = _to_numpy(name, value)
    if metadata is not None:
        bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
        if bad:
            raise TypeError(f"minigrad.io.save: metadata must map str to str; these entries do not: {bad!r}")
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
    return dict(header.get("__metadata__") or {})


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


def load(path) -> dict[str, np.ndarray]:
    """Read a safetensors file into {name: numpy array}; wrap them with
    `minigrad.tensor(...)` or pass the dict to `Module.load_state_dict`."""
    st = _safetensors_numpy()
    path = _check_path(path, "minigrad.io.load")
    _read_header(path)  # fails early, with our message, on files that are plainly not safetensors
    try:
        return st.load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError (and others) on bad files
        raise _invalid(path, f"{type(err).__name__}: {err}") from None
