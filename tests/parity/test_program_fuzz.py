"""The random-program fuzz against PyTorch (program_fuzz.py): a few hundred programs in CI (the
"ci" profile draws the same ones every run). A long hunt, with a count of what ran:

    MINIGRAD_FUZZ_PROGRAMS=20000 MINIGRAD_FUZZ_STATS=fuzz.json HYPOTHESIS_PROFILE=explore \\
        python -m pytest tests/parity/test_program_fuzz.py

Every program the fuzz found wrong is a plain test in test_fuzz_regressions.py.
"""
import collections
import json
import os

import pytest

pytest.importorskip("torch", reason="the fuzz compares with PyTorch: pip install 'torch==2.13.0'")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from program_fuzz import check, programs  # noqa: E402

PROGRAMS = int(os.environ.get("MINIGRAD_FUZZ_PROGRAMS", 300))
OUTCOMES = collections.Counter()  # how the programs ended: compared, refused by both, ...
OPS = collections.Counter()  # which ops they exercised


@settings(max_examples=PROGRAMS, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.filter_too_much])
@given(program=programs())
def test_random_programs_agree_with_pytorch(program):
    OUTCOMES[check(program)] += 1
    OPS.update(step.op for step in program.steps)


def teardown_module():
    path = os.environ.get("MINIGRAD_FUZZ_STATS")
    if path:
        with open(path, "w") as f:
            json.dump({"programs": sum(OUTCOMES.values()), "outcomes": OUTCOMES, "ops": OPS}, f, indent=1)
