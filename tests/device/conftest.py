"""The device under test, and how a device result is compared with the CPU's.

By default "cuda" means the strict stand-in for cupy (standin.py): every device-facing path runs
in CI, where a host/device mix, a numpy call on device data or an unplanned transfer fails the
test. With `--gpu-parity` (on a machine with a GPU and cupy) "cuda" is the real thing, and the
same tests compare every value and gradient with the numpy result:
    float64 to 1e-10 and float32 to 1e-4, relative to the largest value of the same kind
(the largest gradient of the model, for gradients): an exactly-zero gradient (BERT's key bias:
softmax ignores a constant added to a row) is rounding noise that differs between devices, and
a floor relative to the largest gradient keeps that noise from reading as a 100% mismatch.
"""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

import standin

TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


def on_gpu(config) -> bool:
    return bool(config.getoption("--gpu-parity"))


@pytest.fixture
def device(request):
    """'cuda': the stand-in (default) or, with --gpu-parity, cupy on a real GPU."""
    if on_gpu(request.config):
        if backend.cupy_module() is None:
            pytest.skip("--gpu-parity: cupy is not installed or sees no GPU on this machine")
        yield "cuda"
        backend.settle_checks()
        return
    previous = backend.use_device_modules(standin.cupy, standin.cupyx)
    standin.violations.clear()
    try:
        yield "cuda"
        backend.settle_checks()  # a bad index queued on the device and never read fails the test
    finally:
        backend.use_device_modules(*previous)
        backend._pending.clear()
    # code that caught and hid a refusal (try/except) still fails the test
    assert not standin.violations, standin.violations


@pytest.fixture
def standin_only(request):
    """For tests of the stand-in's own rules and of transfer counts: they need the stand-in."""
    if on_gpu(request.config):
        pytest.skip("a test of the stand-in itself (or of its transfer log): nothing to compare on a GPU")


def host(value):
    """A result as numpy arrays (Tensors and device arrays copied, containers walked)."""
    if isinstance(value, mg.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(host(v) for v in value)
    if hasattr(value, "__cuda_array_interface__"):
        return backend.to_numpy(value)
    return value


def assert_same(device_result: dict, cpu_result: dict, exact_keys=()):
    """device_result == cpu_result within TOLERANCE: keys starting with "grad" share one floor
    (relative to the largest gradient), other arrays have their own (relative to their largest
    value). Integers (token ids) and keys in exact_keys must be equal."""
    assert device_result.keys() == cpu_result.keys()
    grads = [np.max(np.abs(v)) for k, v in cpu_result.items()
             if k.startswith("grad") and isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size]
    grad_scale = max(grads, default=0.0)
    for key, expected in cpu_result.items():
        actual = device_result[key]
        if not isinstance(expected, np.ndarray) or expected.dtype.kind != "f" or key in exact_keys:
            np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), err_msg=key)
            continue
        assert actual.dtype == expected.dtype, (key, actual.dtype, expected.dtype)
        rtol = TOLERANCE[expected.dtype]
        scale = grad_scale if key.startswith("grad") else (np.max(np.abs(expected)) if expected.size else 0.0)
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=key)


@pytest.fixture
def same_on_device(device):
    """same_on_device(run) runs run(device) and run("cpu") (each returning a dict of results)
    and asserts they agree (see assert_same); returns the device's results."""

    def check(run, exact_keys=()):
        on_device = host(run(device))
        on_cpu = host(run("cpu"))
        assert_same(on_device, on_cpu, exact_keys)
        return on_device

    return check
