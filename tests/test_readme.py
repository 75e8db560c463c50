"""The README's two set-up commands are the ones that work: CI runs the test command verbatim,
and the main command names the console script that pyproject installs."""
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmds = [b for b in _bash_blocks(readme) if "pytest" in b]
    assert len(test_cmds) == 1, "the README should show exactly one test command"
    ci_lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert test_cmds[0] in ci_lines, f"CI does not run the README's test command {test_cmds[0]!r}"
    assert ci_lines[-1] == test_cmds[0], "the README's test command should be the last thing CI runs"


def test_readme_main_command_uses_the_installed_console_script():
    readme = (ROOT / "README.md").read_text()
    main = [b for b in _bash_blocks(readme) if "minigrad tour" in b]
    assert main and main[0].startswith("pip install -e"), "the README should show install + `minigrad tour`"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["minigrad"] == "minigrad_tutorials.cli:main"
    extra = re.search(r'\.\[(\w+)\]', main[0]).group(1)
    assert extra in project["optional-dependencies"]


def test_pyproject_pins_torch_for_parity():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "torch==2.13.0" in deps["parity"], "an unpinned torch would pull a multi-GB CUDA build"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] == ["numpy>=1.24"]


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_examples_run_and_say_what_they_claim(capsys):
    """Every ```python block runs as written (the custom-Function block asserts its own gradcheck)."""
    import math

    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out.splitlines()
    # the first example's loss, worked independently: sum_i tanh(x_i w_i) at x = (1, 2, 3), w = (.5, -1, 2)
    assert float(printed[0]) == pytest.approx(math.tanh(0.5) + math.tanh(-2.0) + math.tanh(6.0), rel=1e-6)
    function_block = next(b for b in blocks if "class Softplus(Function)" in b)
    assert "gradcheck" in function_block and "gradgradcheck" in function_block
