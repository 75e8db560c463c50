"""What `import minigrad` gives: the subpackages as attributes, as torch.nn is, without importing
them up front."""
import subprocess
import sys


def run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


# -- issue 12, item 5 -----------------------------------------------------------------------
def test_subpackages_are_attributes_of_the_package():
    out = run("import minigrad as mg; print(mg.nn.Linear.__name__, mg.optim.SGD.__name__, "
              "mg.data.__name__, mg.io.__name__, 'nn' in dir(mg))")
    assert out == "Linear SGD minigrad.data minigrad.io True"


def test_importing_minigrad_does_not_import_the_subpackages():
    out = run("import sys, minigrad; print(sorted(m for m in ('minigrad.nn', 'minigrad.optim', 'minigrad.data', "
              "'minigrad.io') if m in sys.modules))")
    assert out == "[]"


def test_an_unknown_attribute_is_still_an_attribute_error():
    out = run("import minigrad as mg\ntry:\n    mg.nope\nexcept AttributeError as e:\n    print(e)")
    assert "nope" in out
