"""Which device the device tests ran on: a visible skip in CI (the strict stand-in), a check that
cupy and a GPU were used under --gpu-parity."""
import pytest

import minigrad as mg


def test_the_device_tests_ran_on_a_real_gpu(request, device):
    if not request.config.getoption("--gpu-parity"):
        pytest.skip("tests/device ran on the strict cupy stand-in (CI has no GPU); on a machine with a GPU "
                    "and cupy, `python -m pytest tests/device --gpu-parity` runs them on it against numpy")
    x = mg.randn(3, device="cuda")
    assert type(x.data).__module__.split(".")[0] == "cupy" and mg.cuda.is_available()
