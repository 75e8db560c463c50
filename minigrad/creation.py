"""Factories: tensors from shapes, ranges and random draws, with dtype=, device=, requires_grad=.

Floating tensors default to float32, integer ones to int64, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .backend import normalize_device, to_device, xp_for
from .random import get_rng
from .tensor import DEFAULT_FLOAT, Tensor, _check_requires_grad, _shape_arg


def _finish(arr, device, requires_grad):
    if device is not None and normalize_device(device) != "cpu":
        arr = to_device(arr, device)
    _check_requires_grad(arr, requires_grad)
    return Tensor._make(arr, bool(requires_grad), None)


def _float(dtype):
    return np.dtype(dtype) if dtype is not None else DEFAULT_FLOAT


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _finish(xp_for(device).zeros(_shape_arg(shape), dtype=_float(dtype)), None, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _finish(xp_for(device).ones(_shape_arg(shape), dtype=_float(dtype)), None, requires_grad)


empty = zeros


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, (int, np.integer)) and not isinstance(fill_value, bool) else (
            np.bool_ if isinstance(fill_value, bool) else DEFAULT_FLOAT)
    return _finish(xp_for(device).full(_shape_arg((shape,)), fill_value, dtype=dtype), None, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else DEFAULT_FLOAT
    return _finish(xp_for(device).arange(start, end, step, dtype=dtype), None, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(xp_for(device).linspace(start, end, steps, dtype=_float(dtype)), None, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(xp_for(device).eye(n, m, dtype=_float(dtype)), None, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal draws from the seeded generator (see minigrad.manual_seed), on the device."""
    xp = xp_for(device)
    arr = get_rng(generator, xp).standard_normal(_shape_arg(shape), dtype=np.float64).astype(_float(dtype))
    return _finish(arr, None, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform draws in [0, 1)."""
    xp = xp_for(device)
    arr = get_rng(generator, xp).random(_shape_arg(shape), dtype=np.float64).astype(_float(dtype))
    return _finish(arr, None, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None):
    """Integers in [low, high) (or [0, low) with one bound), int64 by default."""
    if high is None:
        low, high = 0, low
    xp = xp_for(device)
    arr = get_rng(generator, xp).integers(low, high, size=_shape_arg((size,)), dtype=np.int64)
    return _finish(arr.astype(dtype or np.int64), None, False)


def randperm(n, device=None, generator=None):
    xp = xp_for(device)
    rng = get_rng(generator, xp)
    if xp is np:
        return _finish(rng.permutation(n).astype(np.int64), None, False)
    # cupy's Generator has no permutation: the order of n uniform draws is a uniform permutation
    return _finish(xp.argsort(rng.random(n)).astype(np.int64), None, False)


def multinomial(probs, num_samples=1, generator=None):
    """Draw class indices from each row of (unnormalised) probabilities, on their device; no gradient."""
    xp = probs.xp
    p = probs.data.astype(np.float64)
    p2 = p.reshape(-1, p.shape[-1])
    p2 = p2 / p2.sum(axis=1, keepdims=True)
    rng = get_rng(generator, xp)
    # inverse-CDF sampling, one uniform number per draw
    cdf = xp.cumsum(p2, axis=1)
    u = rng.random((p2.shape[0], num_samples))
    out = xp.minimum((cdf[:, None, :] < u[:, :, None]).sum(axis=2), p2.shape[1] - 1)
    return _finish(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64), None, False)


def _like(t, dtype, device):
    return (dtype or t.dtype), (device or t.device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return ones(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


empty_like = zeros_like


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    dtype, device = _like(t, dtype, device)
    return randn(t.shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def rand_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    dtype, device = _like(t, dtype, device)
    return rand(t.shape, dtype=dtype, device=device, requires_grad=requires_grad, generator=generator)


def as_tensor(data, dtype=None, device=None):
    """data as a Tensor of that dtype on that device, copying only what must change (PyTorch's
    torch.as_tensor): a Tensor already there is returned as it is, a numpy array on the CPU is
    shared, host data for a GPU crosses once. Models use it for ids that arrive as lists or arrays."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if isinstance(data, np.generic):  # what a numpy reduction returns: a 0-d array, shared
        data = np.asarray(data)
    same_dtype = dtype is None or np.dtype(dtype) == getattr(data, "dtype", None)
    if same_dtype and device is None and (isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__")):
        return Tensor._make(data, False, None)  # an array where it is: shared, as torch.as_tensor
    if same_dtype and isinstance(data, np.ndarray) and normalize_device(device) == "cpu":
        return Tensor._make(data, False, None)
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a numpy array (its dtype kept)."""
    return Tensor._make(np.asarray(array), False, None)
