"""Back ends: numpy on the CPU, cupy on a GPU, chosen by the data. A source scan keeps cupy
inside backend.py and keeps the ops off numpy's module functions, so the same op code runs
on both devices."""
import ast
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

PACKAGE = Path(mg.__file__).resolve().parent

# numpy names an op may still use: dtypes and constants, never functions on tensor data
ALLOWED_NP_ATTRIBUTES = {
    "dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
    "generic", "ndarray", "integer", "floating", "number", "pi", "e", "inf", "nan", "newaxis",
}


def _sources(folder):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_backend_imports_cupy():
    offenders = []
    for path in _sources(PACKAGE):
        if path.name == "backend.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.relative_to(PACKAGE)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in ("cupy", "cupyx")]
    assert not offenders, offenders


def numpy_uses(source):
    """(line, what) for every use of numpy that is not a dtype or a constant."""
    tree = ast.parse(source)
    aliases = {"np", "numpy"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "numpy"}
        if isinstance(node, ast.ImportFrom) and node.module == "numpy":
            found += [(node.lineno, f"from numpy import {a.name}") for a in node.names
                      if a.name not in ALLOWED_NP_ATTRIBUTES]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr not in ALLOWED_NP_ATTRIBUTES):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_ops_reach_array_functions_through_their_inputs_array_module():
    """In minigrad/ops/, `np.<anything>(...)` on tensor data would pull a GPU array back to
    numpy (or fail); ops ask `xp_of(x)` instead. Only dtypes and constants may be read."""
    offenders = [f"{path.name}:{line} uses {what}" for path in _sources(PACKAGE / "ops")
                 for line, what in numpy_uses(path.read_text())]
    assert not offenders, offenders


def test_the_scan_would_catch_a_numpy_call():
    """The rule above is only worth something if it fires: check it on planted offenders."""
    planted = (
        "import numpy as onp\nfrom numpy import where\n"
        "def forward(ctx, x):\n    return onp.tanh(x) * onp.float32(2) + np.exp(x)\n"
    )
    assert sorted(what for _, what in numpy_uses(planted)) == ["from numpy import where", "np.exp", "onp.tanh"]


def test_xp_of_and_devices():
    assert backend.xp_of(np.zeros(2)) is np
    assert backend.xp_of(np.float32(1.0)) is np
    assert backend.device_of(np.zeros(2)) == "cpu"
    assert backend.normalize_device(None) == "cpu"
    assert backend.normalize_device("cuda:0") == "cuda"
    with pytest.raises(ValueError, match="unknown device 'gpu': use 'cpu' or 'cuda'"):
        backend.normalize_device("gpu")
    assert isinstance(backend.cuda_is_available(), bool)
    assert mg.cuda.is_available() == backend.cuda_is_available()


def test_to_device_on_the_same_device_is_a_no_op():
    a = np.arange(3)
    assert backend.to_device(a, "cpu") is a
    assert backend.to_numpy(a) is a


def test_as_array_turns_numpy_scalars_into_0d_arrays():
    assert isinstance(backend.as_array(np.float32(2.0)), np.ndarray)
    a = np.zeros(2)
    assert backend.as_array(a) is a


def test_scatter_add_accumulates_repeated_indices():
    target = np.zeros(3)
    backend.scatter_add(target, np.array([0, 2, 0, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(target, [8.0, 0.0, 2.0])


@pytest.mark.parametrize("V, N, D", [(5, 40, 3), (65, 768, 8), (7, 2, 4), (3, 1, 2)])
def test_scatter_add_of_whole_rows_equals_a_python_loop(V, N, D):
    """The embedding-gradient path (sorted rows, reduceat) against the definition, row by row."""
    rng = np.random.default_rng(V * N)
    rows, values = rng.integers(0, V, N), rng.standard_normal((N, D))
    target = rng.standard_normal((V, D))
    expected = target.copy()
    for i, r in enumerate(rows):
        expected[r] += values[i]
    backend.scatter_add(target, rows, values)
    np.testing.assert_allclose(target, expected, rtol=1e-12, atol=1e-12)


def test_scatter_add_keeps_numpy_semantics_for_negative_rows_and_masks():
    target = np.zeros((3, 2))
    backend.scatter_add(target, np.array([-1, 2, 0]), np.ones((3, 2)))  # -1 and 2 are the same row
    np.testing.assert_array_equal(target, [[1, 1], [0, 0], [2, 2]])
    target = np.zeros((3, 2))
    backend.scatter_add(target, np.array([True, False, True]), np.ones((2, 2)))
    np.testing.assert_array_equal(target, [[1, 1], [0, 0], [1, 1]])


def test_erf_keeps_the_dtype():
    x = np.array([-1.0, 0.0, 0.5], dtype=np.float32)
    y = backend.erf(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-0.8427007929, 0.0, 0.5204998778], rtol=1e-6)
