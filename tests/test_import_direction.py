"""Imports flow one way: the library (minigrad/) <- the models (models/, installed as minigrad_models)
<- the lessons and the `minigrad` command (tutorials/, installed as minigrad_tutorials). Read from
the source (ast), so a lazy import inside a function counts as much as one at the top."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ABOVE = {  # folder -> the top-level packages it must never import
    "minigrad": {"minigrad_models", "minigrad_tutorials", "models", "tutorials"},
    "models": {"minigrad_tutorials", "tutorials"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def upward_imports(folder: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {package}"
            for path in sorted((ROOT / folder).rglob("*.py"))
            for line, package in imported_packages(path) if package in ABOVE[folder]]


@pytest.mark.parametrize("folder", sorted(ABOVE))
def test_nothing_imports_upward(folder):
    assert upward_imports(folder) == []


def test_the_check_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from minigrad_tutorials.recipes import WHAT\n    import models.gpt\n")
    assert imported_packages(module) == [(1, "os"), (4, "minigrad_tutorials"), (5, "models")]
