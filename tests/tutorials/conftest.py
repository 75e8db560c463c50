"""`run_lesson(path)`: run a lesson script in fast mode into tmp_path and return its result.json."""
import json
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_lesson(tmp_path, monkeypatch):
    """Run tutorials/NN_name.py as __main__ with MINIGRAD_FAST=1 and MINIGRAD_OUT=tmp_path.

    The lesson sees no $MINIGRAD_DATA (it uses the built-in corpora) unless data_dir is given,
    so the test does not depend on what the machine has. Returns the parsed result.json, with
    the output folder under the key "out_dir".
    """

    def run(path, data_dir=None) -> dict:
        path = Path(path)
        if not path.is_absolute():
            path = REPO / path
        monkeypatch.setenv("MINIGRAD_FAST", "1")
        monkeypatch.delenv("MINIGRAD_FULL", raising=False)  # exported by a user, it would clash with fast
        monkeypatch.setenv("MINIGRAD_OUT", str(tmp_path))
        if data_dir is None:
            monkeypatch.delenv("MINIGRAD_DATA", raising=False)
        else:
            monkeypatch.setenv("MINIGRAD_DATA", str(data_dir))
        monkeypatch.setattr(sys, "argv", [str(path)])  # pytest's own flags must not reach the lesson
        runpy.run_path(str(path), run_name="__main__")
        result = json.loads((tmp_path / "result.json").read_text())
        result["out_dir"] = tmp_path
        return result

    yield run
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:
        pass


@pytest.fixture
def claims_of():
    """`claims_of(result, n)`: the lesson's n claims by name, checked for shape: each judged over
    two seeds at the fast budget, its verdict one of the two the intervals allow."""
    return _claims_of


def _claims_of(result, n_claims, seeds=2):
    claims = result["claims"]
    assert len(claims) == n_claims, [c["claim"] for c in claims]
    for c in claims:
        assert c["seeds"] == seeds and c["budget"] == "fast"
        assert c["verdict"] in ("reproduced", "not shown at this budget")
        assert " ± " in c["test"] and c["measured"]
    return {c["claim"]: c for c in claims}
