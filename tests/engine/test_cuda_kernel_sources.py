"""The fused CUDA kernels' sources, checked where no GPU is at hand.

1. Every source compiles: the exact text that cupy hands to NVRTC for each dtype goes through nvcc
   (-ptx for compute capability 9.0, warnings as errors), and each function the launchers call is
   an entry point of the result. Skipped, saying so, where nvcc is not installed.
2. Every launcher calls its kernel as the kernel is declared: a recording stand-in for
   backend.raw_module catches each launch, and its arguments are checked against the C signature
   in the source (arrays where pointers are declared, with the element type declared; numpy
   scalars of the declared C type where values are), with a grid and a block a GPU accepts.

What only a GPU can check (that each kernel computes what its reference does) runs in
tests/device/test_cuda_kernels.py under --gpu-parity.
"""
import re
import shutil
import subprocess

import numpy as np
import pytest

from minigrad import backend
from minigrad.ops import cuda_kernels, cuda_pointwise, cuda_rows
from minigrad.optim import adam_update

KERNELS = {k.name: k for k in cuda_kernels.ALL}
DTYPES = (np.float32, np.float64)
NVCC = shutil.which("nvcc")


def test_every_kernel_module_is_registered():
    assert set(KERNELS) == {"gelu", "lstm_cell", "gru_cell", "layer_norm", "cross_entropy", "attention_softmax",
                            "adam_step"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every (kernel, dtype) source compiled by one nvcc call: (its result, the PTX of each)."""
    if NVCC is None:
        pytest.skip("nvcc is not installed here, so the CUDA sources are not compiled (on a machine with the CUDA "
                    "toolkit this test compiles every kernel with nvcc -ptx)")
    folder = tmp_path_factory.mktemp("cuda_sources")
    files = {}
    for name, kernels in KERNELS.items():
        for dtype in DTYPES:
            files[name, np.dtype(dtype).name] = path = folder / f"{name}_{np.dtype(dtype).name}.cu"
            path.write_text(kernels.source(dtype))
    done = subprocess.run([NVCC, "-ptx", "-arch=compute_90", "-Werror", "all-warnings", *map(str, files.values()),
                           "-odir", str(folder)], capture_output=True, text=True)
    ptx = {key: path.with_suffix(".ptx").read_text() if path.with_suffix(".ptx").exists() else ""
           for key, path in files.items()}
    return done, ptx


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_the_source_compiles_with_nvcc(name, dtype, compiled):
    done, ptx = compiled
    assert done.returncode == 0, done.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx[name, np.dtype(dtype).name]))
    assert entries == set(KERNELS[name].functions)


# -- the launches against the declared signatures ------------------------------------------------------------
_SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)
_C_SCALARS = {"long long": np.int64, "int": np.int32}


def declared(kernels, function):
    """The C parameter types of `function` in the source, e.g. ['const T*', 'T*', 'long long', 'int']."""
    params = dict(_SIGNATURE.findall(kernels.body))[function]
    return [" ".join(p.split()[:-1]) for p in params.replace("\n", " ").split(",")]


class Recorder:
    """What backend.raw_module returns in these tests: launches are recorded, not run."""

    launches = []

    def __init__(self, code):
        self.code = code

    def get_function(self, name):
        return lambda grid, block, args: Recorder.launches.append((self.code, name, grid, block, args))


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setattr(backend, "raw_module", Recorder)
    Recorder.launches = []
    for k in cuda_kernels.ALL:
        k._compiled.clear()
    yield Recorder.launches
    for k in cuda_kernels.ALL:
        k._compiled.clear()


def r(*shape, dtype):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def launches_of_every_launcher(dtype):
    """Call every launcher once on small arrays (each kernel's launch is recorded, not run)."""
    B, H, C, N = 3, 5, 7, 4
    f = lambda *s: r(*s, dtype=dtype)  # noqa: E731
    cuda_pointwise.gelu_forward(f(6), "none")
    cuda_pointwise.gelu_backward(f(6), f(6), "tanh")
    cuda_pointwise.lstm_cell_forward(f(B, 4 * H), f(B, 4 * H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, H))
    cuda_pointwise.lstm_cell_backward(f(B, 4 * H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, 4 * H))
    cuda_pointwise.gru_cell_forward(f(B, 3 * H), f(B, 3 * H), f(3 * H), f(B, H), f(B, 3 * H), f(B, H), f(B, H), f(B, H))
    cuda_pointwise.gru_cell_forward(f(B, 3 * H), f(B, 3 * H), None, f(B, H), f(B, 3 * H), f(B, H), f(B, H), f(B, H))
    cuda_pointwise.gru_cell_backward(f(B, 3 * H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, H), f(B, 3 * H), f(B, 3 * H))
    cuda_rows.layer_norm_forward(f(N, C), f(C), None, 1e-5)
    cuda_rows.layer_norm_backward(f(N, C), None, f(N, C), f(N), f(N), True)
    target = np.arange(N, dtype=np.int64) % C
    cuda_rows.cross_entropy_forward(f(N, C), target, f(N))
    cuda_rows.cross_entropy_backward(f(N, C), target, f(N), f(N), np.asarray(0.5, dtype=dtype))
    cuda_rows.cross_entropy_backward(f(N, C), target, f(N), f(N), f(N, 1))
    cuda_rows.attention_softmax(f(2, 3, 4, 4), 0.5, True)
    cuda_rows.attention_softmax_backward(f(2, 3, 4, 4), f(2, 3, 4, 4), f(2, 3, 4, 4), 0.5)
    cuda_rows.attention_softmax_backward(f(2, 3, 4, 4), f(2, 3, 4, 4), None, 0.5)
    adam_update.adam_update(f(10), f(10), f(10), f(10), None, 3, 1e-3, 0.9, 0.99, 1e-8, 0.1, True, False)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_each_launch_passes_what_its_kernel_declares(dtype, recorded, monkeypatch):
    monkeypatch.setattr(cuda_kernels.backend, "compiles_kernels", lambda array: True)  # as on a GPU
    launches_of_every_launcher(dtype)
    called = {(name, code.split("\n")[1]) for code, name, *_ in recorded}
    every = {(f, f"typedef {'float' if dtype == np.float32 else 'double'} T;") for k in cuda_kernels.ALL
             for f in k.functions}
    assert called == every  # every kernel function launched, compiled for this dtype
    kernel_of = {f: k for k in cuda_kernels.ALL for f in k.functions}
    for code, name, grid, block, args in recorded:
        assert code == kernel_of[name].source(dtype)
        params = declared(kernel_of[name], name)
        assert len(args) == len(params), (name, params)
        for i, (ctype, arg) in enumerate(zip(params, args)):
            where = f"{name} argument {i} ({ctype})"
            if ctype.endswith("*"):
                base = ctype.replace("const", "").replace("*", "").strip()
                assert isinstance(arg, np.ndarray) and arg.flags.c_contiguous, where
                assert arg.dtype == (np.dtype(dtype) if base == "T" else np.dtype(_C_SCALARS[base])), where
            elif ctype == "T":
                assert type(arg) is np.dtype(dtype).type, where  # a Python float would arrive as a double
            else:
                assert type(arg) is _C_SCALARS[ctype], where
        assert isinstance(grid, tuple) and all(isinstance(g, int) and g >= 1 for g in grid), (name, grid)
        assert isinstance(block, tuple) and len(block) == 1 and 32 <= block[0] <= 1024 and block[0] % 32 == 0, name
