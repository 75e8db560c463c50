"""Fused CUDA kernels for the ops whose formulas are several array operations: how they are written,
compiled, launched, and checked.

On a GPU every array operation is a kernel launch that reads and writes all of its operands in
device memory. A formula of ten operations (GELU's derivative, an LSTM cell, AdamW) makes ten
launches and ten round trips to memory; written as one kernel it makes one. The kernels live in
cuda_pointwise.py (one thread per element: GELU, the LSTM and GRU cells), cuda_rows.py (one block
per row: layer norm, softmax with cross-entropy, causal softmax) and optim/multi_tensor.py (AdamW
over all parameters at once).

Three rules keep them honest:
* An op uses a kernel only when its data is on a real GPU through cupy (`on(array)`); everywhere
  else it runs its array formula as before, and the readable composite stays its definition.
* Each kernel has a reference beside it: the same computation as array operations (numpy or
  cupy). Tests compare every reference with the op's composite on the CPU (value and gradient),
  and every kernel with its reference on a GPU (tests/device/test_cuda_kernels.py).
* The source is plain CUDA C++, `extern "C" __global__` functions over an element type T, so
  the text that cupy compiles (NVRTC, through backend.raw_module) is exactly the text that a test
  hands to nvcc where no GPU is at hand (tests/engine/test_cuda_kernel_sources.py).

`references()` makes `on()` true everywhere and runs each reference where its kernel would run:
the tests use it to drive every op's kernel path (its dispatch, the arrays it saves for
backward, the launch arguments' shapes) on the CPU and on the device stand-in.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import backend

_references = False
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
ALL: list = []  # every Kernels source, for the compile test


def on(array) -> bool:
    """Whether a fused kernel serves `array`: float32 or float64 data on a GPU through cupy (or
    anywhere, while tests run the references in the kernels' place)."""
    return (_references or backend.compiles_kernels(array)) and array.dtype in _DTYPES and array.size > 0


def running_references() -> bool:
    """True inside `references()`: the launchers call each kernel's reference instead."""
    return _references


@contextlib.contextmanager
def references():
    """Inside: every op takes its kernel path on any device, each kernel replaced by its reference."""
    global _references
    previous, _references = _references, True
    try:
        yield
    finally:
        _references = previous


# -- the source around every kernel -------------------------------------------------------------------
_MATH = {  # element type -> the CUDA math functions of that precision (float: the f-suffixed ones)
    "float": dict(exp="expf", log="logf", tanh="tanhf", sqrt="sqrtf", erfc="erfcf",
                  neg_inf="__int_as_float(0xff800000)"),
    "double": dict(exp="exp", log="log", tanh="tanh", sqrt="sqrt", erfc="erfc",
                   neg_inf="__longlong_as_double(0xfff0000000000000LL)"),
}

_HEADER = r"""
typedef {ctype} T;
__device__ __forceinline__ T exp_(T x) {{ return {exp}(x); }}
__device__ __forceinline__ T log_(T x) {{ return {log}(x); }}
__device__ __forceinline__ T tanh_(T x) {{ return {tanh}(x); }}
__device__ __forceinline__ T sqrt_(T x) {{ return {sqrt}(x); }}
__device__ __forceinline__ T erfc_(T x) {{ return {erfc}(x); }}
__device__ __forceinline__ T neg_inf_() {{ return {neg_inf}; }}
__device__ __forceinline__ T sigmoid_(T a) {{ return T(1) / (T(1) + exp_(-a)); }}

// the sum (or max) of v over the 32 threads of a warp; lane 0 ends up with it
__device__ __forceinline__ T warp_reduce_(T v, bool is_max) {{
    for (int offset = 16; offset > 0; offset >>= 1) {{
        T other = __shfl_down_sync(0xffffffffu, v, offset);
        v = is_max ? (other > v ? other : v) : v + other;
    }}
    return v;
}}

// the sum (or max) of v over the block (blockDim.x a multiple of 32, at most 1024), returned
// to every thread; safe to call several times in a row
__device__ T block_reduce_(T v, bool is_max) {{
    __shared__ T partial[32];
    __shared__ T total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    v = warp_reduce_(v, is_max);
    __syncthreads();  // the previous call's readers are done with partial and total
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {{
        v = lane < n_warps ? partial[lane] : (is_max ? neg_inf_() : T(0));
        v = warp_reduce_(v, is_max);
        if (lane == 0) total = v;
    }}
    __syncthreads();
    return total;
}}
"""


class Kernels:
    """A CUDA source of `extern "C" __global__` functions over element type T, compiled once per
    dtype (float32, float64) on first use; `launch` runs one of its functions."""

    def __init__(self, name: str, body: str, functions: tuple[str, ...]):
        self.name, self.body, self.functions = name, body, functions
        self._compiled: dict = {}
        ALL.append(self)

    def source(self, dtype) -> str:
        """The exact text compiled for `dtype`: the header with T and its math, then the body."""
        ctype = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
        return _HEADER.format(ctype=ctype, **_MATH[ctype]) + self.body

    def launch(self, function: str, dtype, grid, block: int, args: tuple):
        """Run `function` on `grid` blocks (an int or a tuple) of `block` threads. Scalars in args
        must be numpy scalars of the C types the kernel declares (cupy passes them by value)."""
        module = self._compiled.get(np.dtype(dtype))
        if module is None:
            module = self._compiled[np.dtype(dtype)] = backend.raw_module(self.source(dtype))
        module.get_function(function)(grid if isinstance(grid, tuple) else (grid,), (block,), args)


# -- launch sizes and argument types -------------------------------------------------------------------
THREADS = 256


def blocks_for(n: int, threads: int = THREADS) -> int:
    """Blocks of `threads` threads that cover n elements (one element per thread)."""
    return max(1, (n + threads - 1) // threads)


def row_threads(width: int) -> int:
    """Threads per block for one row of `width` elements: a multiple of the warp (32), at most 256."""
    return min(256, max(32, (width + 31) // 32 * 32))


def scalar(dtype, value):
    """A value as the kernel's element type T (cupy passes a Python float as a double)."""
    return np.dtype(dtype).type(value)


def i64(value):
    return np.int64(value)


def i32(value):
    return np.int32(value)
