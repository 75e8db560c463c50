"""Array back ends: numpy on the CPU, cupy on a CUDA GPU.

This is the only module that imports cupy, and it does so lazily: a machine without cupy
(or without a GPU) never touches it. Every op asks `xp_of(array)` for the array module of
its inputs instead of calling `np.` on tensor data, so the same code runs on both.

Tests make "cuda" mean a strict stand-in for cupy (`use_device_modules`, tests/device/), so that
the device path runs in CI without a GPU.
"""
from __future__ import annotations

import os

import numpy as np

_cupy = None
_cupyx = None
_cupy_checked = False
_real_cupy = None  # the cupy that imported (not a test's stand-in): only it compiles CUDA kernels
# MINIGRAD_FUSED_KERNELS=0 runs the array-library path on a GPU too (to measure what the kernels buy)
_fused_kernels = os.environ.get("MINIGRAD_FUSED_KERNELS", "1") != "0"


def cupy_module():
    """The cupy module if it imports and sees a GPU, else None (checked once)."""
    global _cupy, _cupyx, _cupy_checked, _real_cupy
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy  # noqa: PLC0415  (lazy on purpose)
            import cupyx  # noqa: PLC0415
            import cupyx.scipy.special  # noqa: F401, PLC0415

            cupy.cuda.runtime.getDeviceCount()
            _cupy = _real_cupy = cupy
            _cupyx = cupyx
        except Exception:  # no cupy, no driver, no device: all mean "CPU only"
            _cupy = _cupyx = None
    return _cupy


def use_device_modules(cupy, cupyx):
    """Make "cuda" mean these modules (a cupy-like array module and its cupyx); returns the
    previous pair, to put back afterwards. For tests: the strict stand-in in tests/device/.
    (None, None) means "no GPU". The numpy path never looks here, so it costs nothing."""
    global _cupy, _cupyx
    cupy_module()  # settle the real one first, so that putting it back does not probe again
    previous = (_cupy, _cupyx)
    _cupy, _cupyx = cupy, cupyx
    return previous


def compiles_kernels(array) -> bool:
    """True when `array` lives on a GPU through the real cupy, which compiles the fused CUDA kernels
    of ops/cuda_kernels.py (a test's stand-in does not), unless MINIGRAD_FUSED_KERNELS=0."""
    return _cupy is not None and _cupy is _real_cupy and _fused_kernels and isinstance(array, _cupy.ndarray)


def raw_module(code: str):
    """cupy.RawModule(code=code): CUDA C++ compiled with NVRTC on first use (and cached on disk by
    cupy); `.get_function(name)` gives a kernel to launch. Only ops/cuda_kernels.py calls this."""
    return _real_cupy.RawModule(code=code)


def cuda_is_available() -> bool:
    return cupy_module() is not None


def xp_of(array):
    """The array module (numpy or cupy) that owns `array`."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np
    cp = cupy_module()
    if cp is not None and isinstance(array, cp.ndarray):
        return cp
    return np


def as_array(value):
    """A numpy scalar (what a ufunc returns for 0-d input) as a 0-d array; arrays unchanged.

    A Tensor always holds an array, so that `t.data[...] = v` and the device checks work."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def device_of(array) -> str:
    return "cpu" if xp_of(array) is np else "cuda"


def normalize_device(device) -> str:
    if device is None:
        return "cpu"
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        return "cuda"
    raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")


def xp_for(device) -> object:
    """The array module for a device name; a clear error when 'cuda' is not usable."""
    if normalize_device(device) == "cpu":
        return np
    cp = cupy_module()
    if cp is None:
        raise RuntimeError(
            "device 'cuda' asked for, but cupy is not installed or sees no GPU: "
            "install the GPU extra (pip install 'minigrad[gpu]') on a machine with CUDA, or use device='cpu'"
        )
    return cp


def to_device(array, device):
    """Copy an array to a device (a no-op when it is already there)."""
    device = normalize_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        if _pending:
            settle_checks()
        return array.get()
    return xp_for("cuda").asarray(array)


def to_numpy(array) -> np.ndarray:
    return array if isinstance(array, np.ndarray) else to_device(array, "cpu")


def item(array):
    """The one value of an array as a Python number (for device data: a copy to the host)."""
    if _pending:
        settle_checks()
    return array.item()


# -- checks of device data that do not make the host wait ---------------------------------------
_pending: list = []  # (lowest, highest, size, message, error) of index arrays on the device, unread
_MAX_PENDING = 256


def check_index_range(index, size, message, error=IndexError):
    """Raise `error` unless every entry of the integer array `index` lies in [0, size);
    message(bad) gives the error's text for an offending value (name the op and the fix).

    On the CPU the check runs at once. On a GPU, reading index.min() would make the host wait
    for the device at every step, so the check is queued instead (its min and max stay on the
    device) and settled where values come back to the host anyway: the next `to_device(..,
    "cpu")` or `item` (loss.item(), .numpy()), or after 256 queued checks. A bad index then
    raises there, naming the op; it is never used silently (cupy would wrap it around)."""
    if index.size == 0:
        return
    if xp_of(index) is np:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= size:
            raise error(message(lo if lo < 0 else hi))
        return
    _pending.append((index.min(), index.max(), size, message, error))
    if len(_pending) >= _MAX_PENDING:
        settle_checks()


def settle_checks():
    """Read the queued device checks (one small copy to the host) and raise the first failure."""
    checks = _pending[:]
    _pending.clear()
    if not checks:
        return
    xp = xp_of(checks[0][0])
    bounds = xp.stack([xp.stack([lo, hi]).astype(np.int64) for lo, hi, *_ in checks]).get()
    for (lo, hi), (_, _, size, message, error) in zip(bounds.tolist(), checks):
        if lo < 0 or hi >= size:
            raise error(message(lo if lo < 0 else hi) + " (checked on the device without waiting for it, "
                        "so this surfaced where values were next copied to the host)")


def _special(name: str, array):
    """scipy.special's `name` (erf, erfc) on an array of either device, in the array's dtype.

    cupy brings its own (cupyx); on the CPU scipy's is exact, and without scipy a per-element
    math.erf / math.erfc is exact but slow (scipy is an optional speed-up, not a dependency)."""
    if xp_of(array) is not np:
        return getattr(_cupyx.scipy.special, name)(array)
    try:
        import scipy.special  # noqa: PLC0415
    except ImportError:
        import math  # noqa: PLC0415

        return np.vectorize(getattr(math, name), otypes=[array.dtype])(array)
    return getattr(scipy.special, name)(array).astype(array.dtype, copy=False)


def erf(array):
    """The error function, exact, on an array of either device."""
    return _special("erf", array)


def erfc(array):
    """1 - erf, exact, without the cancellation of computing 1 - erf (the tails keep their digits)."""
    return _special("erfc", array)


def errstate(xp, **what):
    """numpy's errstate (e.g. divide="ignore") for numpy arrays; cupy does not warn, so nothing."""
    import contextlib  # noqa: PLC0415

    return np.errstate(**what) if xp is np else contextlib.nullcontext()


def scatter_add(target, indices, values):
    """target[indices] += values, with repeated indices accumulating (not overwriting)."""
    xp = xp_of(target)
    if xp is np:
        if _whole_rows(indices, values):
            _add_rows(target, indices, values)
        else:
            np.add.at(target, indices, values)
    else:
        _cupyx.scatter_add(target, indices, values)
    return target


def _whole_rows(indices, values) -> bool:
    """One non-negative row index per row of values (the embedding case), not a mask, a tuple
    of coordinates or a broadcast (np.add.at handles those; negative rows would alias)."""
    return (isinstance(indices, np.ndarray) and indices.ndim == 1 and indices.dtype.kind in "iu"
            and values.ndim > 1 and len(indices) == values.shape[0] > 1 and indices.min() >= 0)


def _add_rows(target, rows, values):
    """target[rows[i]] += values[i] for whole rows (an embedding's gradient): sort the rows once
    and sum each run of equal rows with reduceat, ~5x faster than np.add.at, which goes element
    by element. Equal rows are summed in their original order, so the result is deterministic."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
    target[sorted_rows[starts]] += np.add.reduceat(values[order], starts, axis=0)
