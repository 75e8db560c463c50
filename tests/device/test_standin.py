"""The stand-in's own rules: each refusal fires (a stand-in that lets a mix through would make
every device test in CI worthless), and what cupy allows stays allowed."""
import numpy as np
import pytest

import minigrad as mg

import standin

cp = standin.cupy


@pytest.fixture
def d(standin_only):
    yield cp.asarray(np.arange(6.0).reshape(2, 3))
    standin.violations.clear()  # the refusals below are on purpose


@pytest.mark.parametrize("mix", [
    lambda d: np.asarray(d),                       # implicit conversion to a host array
    lambda d: d + np.ones(3),                      # a host operand
    lambda d: np.ones(3) * d,
    lambda d: d * d.data,                          # .data is a pointer, not an array
    lambda d: cp.where(d > 0, d, np.zeros(3)),     # a host array into a cupy function
    lambda d: d[np.array([0, 1])],                 # a host index array (cupy would copy it every call)
    lambda d: d.__setitem__(0, np.zeros(3)),
    lambda d: np.exp(d),                           # stricter than cupy: numpy functions refuse device data
    lambda d: np.where(d > 0, d, 0.0),
    lambda d: np.concatenate([d, d]),
    lambda d: cp.indices((2, 3), sparse=True),     # an argument cupy lacks
    lambda d: cp.lib.stride_tricks.as_strided(d, (2,), (8,), writeable=False),  # cupy's as_strided lacks it too
    lambda d: cp.lib.stride_tricks.as_strided(np.zeros(3), (2,), (8,)),
])
def test_each_mix_is_refused(d, mix):
    with pytest.raises(TypeError):
        mix(d)


def test_what_cupy_allows_is_allowed(d):
    assert isinstance(np.float32(2) * d, standin.ndarray) and isinstance(2.0 - d, standin.ndarray)
    assert isinstance(d.sum(), standin.ndarray) and d.sum().ndim == 0  # reductions stay 0-d arrays
    assert cp.pad(d, ((0, 0), (1, 1))).shape == (2, 5)
    windows = cp.lib.stride_tricks.as_strided(d, shape=(2, 2, 2), strides=(24, 8, 8))  # a view, cupy's signature
    np.testing.assert_array_equal(windows.get(), [[[0.0, 1.0], [1.0, 2.0]], [[3.0, 4.0], [4.0, 5.0]]])
    np.testing.assert_array_equal(d[cp.asarray([[0, 5]])].get(), [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]])  # wraps, as cupy
    with pytest.raises(AttributeError, match="no attribute 'vectorize'"):
        cp.vectorize
    assert not hasattr(cp.random.default_rng(0), "permutation")  # cupy's Generator has no permutation


def test_a_tensor_operand_answers_for_a_bare_device_array(device, standin_only):
    t = mg.tensor([1.0, 2.0, 3.0], device=device)
    out = cp.ones(3) * t  # the array defers to the Tensor's reflected operator, as cupy's does
    assert isinstance(out, mg.Tensor) and out.device == "cuda"


def test_every_copy_is_logged(d):
    with standin.transfers() as log:
        cp.asarray(np.zeros(4))
        d.get(), d[0, 0].item(), bool(d[0, 0] > 0), float(d[0, 0])
        d[d > 2]  # a boolean mask: the host must learn how many are True
    assert log.to_device == [("asarray", 4)]
    assert [what for what, _ in log.to_host] == ["get()", "item()", "bool()", "float()",
                                                 "boolean-mask indexing (its size)"]


def test_the_device_fixture_fails_a_test_that_hid_a_refusal(d):
    try:
        d + np.ones(3)
    except TypeError:
        pass
    assert standin.violations  # the device fixture asserts this list is empty when a test ends
