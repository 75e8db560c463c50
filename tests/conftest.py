"""Settings shared by the whole test suite.

Hypothesis runs the "ci" profile unless HYPOTHESIS_PROFILE says otherwise: a bounded number
of examples, derandomized (the same examples on every run, so CI never flakes on a newly
drawn one), and no per-example deadline (a shared 2-core machine has noisy timings).
`HYPOTHESIS_PROFILE=explore pytest ...` draws many more, random examples when hunting bugs.
"""
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# the tests import the package from this checkout even when it is not pip-installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption(
        "--gpu-parity", action="store_true",
        help="run the device tests (tests/device) on cupy and a real GPU instead of the strict "
             "stand-in, comparing each with the numpy result; skipped where cupy sees no GPU",
    )
