"""A lesson opened as a notebook runs: jupytext turns the percent script into cells, a Jupyter kernel
executes them (the dev extra brings jupytext, ipykernel and nbclient)."""
import json
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="notebooks need the dev extra: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="notebooks need the dev extra: pip install -e '.[dev]'")
pytest.importorskip("ipykernel", reason="notebooks need the dev extra: pip install -e '.[dev]'")

REPO = Path(__file__).resolve().parents[2]


def test_lesson_1_runs_as_a_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_FAST", "1")    # the kernel inherits this process's environment
    monkeypatch.delenv("MINIGRAD_FULL", raising=False)
    monkeypatch.setenv("MINIGRAD_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the checkout's minigrad, installed or not
    notebook = jupytext.read(REPO / "tutorials" / "01_backprop.py")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert sum(c.cell_type == "code" for c in notebook.cells) > 5
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
                            ).execute()
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["verdict"]["shown"] and result["metrics"]["scalar: gradcheck passed"] is True
    # the graph cell's last expression is drawn inline, as a notebook shows it
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
