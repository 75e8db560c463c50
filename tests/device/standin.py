"""A strict stand-in for cupy, so that CI (which has no GPU) runs minigrad's device path.

`backend.use_device_modules(standin.cupy, standin.cupyx)` makes "cuda" mean this module: tensors
moved there hold `standin.ndarray`s, which compute with numpy underneath but keep cupy's rules
towards numpy, and one rule more:

* no implicit conversion to a host array: `np.asarray(d)` raises, as cupy's `__array__` does;
* an elementwise op, a cupy function or a `d[...] = v` with a numpy array operand raises, as
  cupy does for numpy arrays (numpy scalars and Python numbers are fine); a numpy array as an
  index raises too, where cupy would copy it across at every call (a hidden transfer);
* `d.data` is a `MemoryPointer`, not an array (what exposed the attention-dropout crash: numpy
  happens to accept a numpy array's `.data`, a memoryview, where it then multiplies);
* stricter than cupy: a numpy function applied to device data raises too (`np.exp(d)`,
  `np.where(d, ...)`), where cupy would dispatch it back to itself and hide the numpy call;
* only functions that cupy has are here (`_FUNCTIONS`), without the numpy arguments cupy lacks
  (`_UNSUPPORTED`); anything else fails, as it would on a GPU;
* an out-of-range integer index wraps around, as cupy's do, where numpy would raise: a missing
  range check shows up as a wrong value here too;
* random numbers come from `cupy.random.default_rng(seed)` with cupy's Generator methods only,
  drawn "on the device" (a stream of their own: not the CPU's numbers for the same seed);
* every copy between host and device is recorded (`transfers()`), so a test can assert that a
  training or decoding step moves nothing but the batch in and the numbers out.

Why a wrapper and not array-api-strict (which also refuses to mix its devices): minigrad's
device path is cupy's API, which is numpy's: array methods (`x.sum()`, `x.astype()`,
`x.reshape()`), `pad`, `put_along_axis`, `swapaxes`, `ascontiguousarray`, `cumsum`, `partition`,
`out=` arguments. array-api-strict (2.6) implements the array API standard instead, which has
none of these, and it lets `np.exp` run on its default device; testing with it would mean
rewriting the engine against another API than the one a GPU runs. It cannot make `.data` a
pointer or count transfers either. This file is the smaller way to catch more.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np

# cupy functions the stand-in offers (the ones minigrad uses, each in cupy 13/14's API; numpy does
# the work). A name cupy lacks must fail here as it would on a GPU.
_FUNCTIONS = frozenset("""
    abs add all allclose amax amin any arange argmax argmin argpartition argsort array asarray
    ascontiguousarray broadcast_shapes broadcast_to ceil clip concatenate copy copyto cos count_nonzero
    cumprod cumsum divide einsum empty empty_like equal exp expand_dims expm1 eye flatnonzero floor full
    full_like greater greater_equal indices isfinite isinf isnan isneginf less less_equal
    linspace log log1p may_share_memory logical_and logical_not logical_or matmul maximum mean minimum moveaxis
    multiply negative nonzero not_equal ones ones_like pad partition power put_along_axis repeat
    reshape round searchsorted sign sin sort sqrt square squeeze stack subtract sum swapaxes
    take take_along_axis tanh tile transpose tril triu where zeros zeros_like
""".split())
_PASS_THROUGH = frozenset("""
    dtype float16 float32 float64 int8 int16 int32 int64 uint8 uint32 uint64 bool_ integer
    floating number generic inf nan pi e newaxis finfo iinfo result_type promote_types
""".split())
# cupy.ndarray methods; the ones that hand values to the host are defined on the class
_METHODS = frozenset("""
    all any argmax argmin argpartition argsort astype clip copy cumsum fill flatten max mean
    min nonzero partition prod ravel repeat reshape round sort squeeze std sum swapaxes take
    transpose var view
""".split())


class MemoryPointer:
    """What cupy's `ndarray.data` is: a pointer into device memory, not an array."""

    def __init__(self, nbytes):
        self.mem_size = nbytes

    def __repr__(self):
        return f"<stand-in MemoryPointer of {self.mem_size} bytes>"


# -- the transfer log --------------------------------------------------------------------------
class TransferLog:
    """Copies between host and device: `to_device` (host data in) and `to_host` (values out),
    each a list of (what, number of elements)."""

    def __init__(self):
        self.to_device, self.to_host = [], []

    def __repr__(self):
        return f"TransferLog(to_device={self.to_device}, to_host={self.to_host})"


_logs: list[TransferLog] = []
# every refusal, also those that the code under test catches and hides (the fixture checks it)
violations: list[str] = []


def _record(direction, what, size):
    for log in _logs:
        getattr(log, direction).append((what, int(size)))


@contextlib.contextmanager
def transfers():
    """`with transfers() as log:` records every host/device copy made inside the block."""
    log = TransferLog()
    _logs.append(log)
    try:
        yield log
    finally:
        _logs.remove(log)


# -- operands ------------------------------------------------------------------------------------
def _violation(message):
    violations.append(message)
    return TypeError(message)


def _refuse(value, where):
    if isinstance(value, MemoryPointer):
        raise _violation(
            f"stand-in cupy: {where} got a MemoryPointer: a device array's .data is a pointer to its memory, "
            "not an array (as in cupy). Unwrap Tensors with .data, and leave bare arrays as they are"
        )
    raise _violation(
        f"stand-in cupy: {where} got a {type(value).__module__}.{type(value).__name__} "
        f"(Unsupported type, as in cupy). Device data and host arrays do not mix: move the host "
        "array to the device first (backend.to_device / Tensor.to), once, outside the step"
    )


def _unwrap(value, where):
    """A device array -> its numpy array; Python data passes; a host array or a pointer raises."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, (np.ndarray, MemoryPointer)):
        _refuse(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):  # cupy's reductions return 0-d arrays, never scalars
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _index(key, shape=None):
    """An index with device arrays unwrapped; given the indexed array's shape, integer arrays in
    it wrap around as cupy's do (numpy would raise for an out-of-bounds index; cupy does not)."""
    parts = tuple(_unwrap(k, "an index") for k in (key if isinstance(key, tuple) else (key,)))
    if shape is not None:
        used = sum(k.ndim if _is_bool_array(k) else 0 if k is None or k is Ellipsis else 1 for k in parts)
        axis, wrapped = 0, []
        for k in parts:
            if isinstance(k, np.ndarray) and k.dtype.kind in "iu" and axis < len(shape):
                k = k % shape[axis]
            wrapped.append(k)
            axis += (len(shape) - used if k is Ellipsis else k.ndim if _is_bool_array(k)
                     else 0 if k is None else 1)
        parts = tuple(wrapped)
    return parts if isinstance(key, tuple) else parts[0]


def _is_bool_array(k):
    return isinstance(k, np.ndarray) and k.dtype == np.bool_


class ndarray:  # noqa: N801  (cupy's name)
    """A device array: numpy underneath, cupy's manners on top."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # np.exp(d) and host_array * d raise; numpy scalars defer to us

    def __init__(self, array):
        self._a = array

    # -- what cupy refuses -----------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise _violation("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                         "to construct a NumPy array explicitly. (stand-in cupy)")

    def __array_function__(self, func, types, args, kwargs):
        raise _violation(f"numpy.{func.__name__} was called on device data (stand-in cupy). cupy would "
                         "dispatch it back to itself; minigrad code asks the array for its module "
                         f"instead: xp_of(array).{func.__name__}(...)")

    @property
    def data(self):
        return MemoryPointer(self._a.nbytes)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "data": (0, False), "version": 3}

    # -- what it is ---------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    device = "stand-in device 0"
    __hash__ = None

    def __repr__(self):
        return "stand-in cupy " + repr(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(a)) for a in self._a)

    def __getattr__(self, name):
        if name not in _METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (stand-in cupy)")
        method = getattr(self._a, name)
        if name == "take":
            method = _WRAPPING["take"].__get__(self._a)

        def call(*args, **kwargs):
            args = _unwrap(args, f"ndarray.{name}")
            kwargs = {k: _unwrap(v, f"ndarray.{name}") for k, v in kwargs.items()}
            return _wrap(method(*args, **kwargs))

        return call

    # -- values to the host: each is a copy (and a wait for the device) ------------------------------
    def get(self):
        _record("to_host", "get()", self._a.size)
        return self._a.copy()

    def item(self):
        _record("to_host", "item()", self._a.size)
        return self._a.item()

    def tolist(self):
        _record("to_host", "tolist()", self._a.size)
        return self._a.tolist()

    def __bool__(self):
        _record("to_host", "bool()", self._a.size)
        return bool(self._a)

    def __float__(self):
        _record("to_host", "float()", self._a.size)
        return float(self._a)

    def __int__(self):
        _record("to_host", "int()", self._a.size)
        return int(self._a)

    def __index__(self):
        _record("to_host", "index", self._a.size)
        return self._a.__index__()

    # -- indexing -----------------------------------------------------------------------------------
    def __getitem__(self, key):
        key = _index(key, self._a.shape)
        masks = key if isinstance(key, tuple) else (key,)
        if any(isinstance(k, np.ndarray) and k.dtype == np.bool_ for k in masks):
            _record("to_host", "boolean-mask indexing (its size)", 1)  # cupy must count the Trues
        return _wrap(self._a[key])

    def __setitem__(self, key, value):
        self._a[_index(key, self._a.shape)] = _unwrap(value, "__setitem__")


def _binary(op, name):
    def method(self, other):
        if not isinstance(other, (ndarray, np.ndarray, MemoryPointer, int, float, complex, bool, np.generic)):
            if hasattr(other, "__array_priority__"):
                return NotImplemented  # a Tensor: let its reflected operator answer
        return _wrap(op(self._a, _unwrap(other, f"the operator {name}")))

    method.__name__ = name
    return method


def _inplace(op, name):
    def method(self, other):
        op(self._a, _unwrap(other, f"the operator {name}"))
        return self

    method.__name__ = name
    return method


def _install_operators():
    import operator

    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
                 "lt", "le", "gt", "ge", "eq", "ne", "lshift", "rshift"):
        op = getattr(operator, name + "_" if name in ("and", "or") else name)
        setattr(ndarray, f"__{name}__", _binary(op, f"__{name}__"))
        if name not in ("lt", "le", "gt", "ge", "eq", "ne"):
            setattr(ndarray, f"__r{name}__", _binary(lambda a, b, op=op: op(b, a), f"__r{name}__"))
            setattr(ndarray, f"__i{name}__", _inplace(getattr(operator, f"i{name}"), f"__i{name}__"))
    for name in ("neg", "pos", "abs", "invert"):
        op = getattr(operator, name)
        setattr(ndarray, f"__{name}__", lambda self, op=op: ndarray(op(self._a)))


_install_operators()


# -- the module ------------------------------------------------------------------------------------
# numpy arguments that cupy's functions lack: using one fails on a GPU, so it fails here too
_UNSUPPORTED = {"indices": {"sparse"}}


def _function(name, fn):
    def call(*args, **kwargs):
        lacking = _UNSUPPORTED.get(name, set()) & set(kwargs)
        if lacking:
            raise _violation(f"cupy.{name} has no argument {sorted(lacking)[0]!r} (numpy's has; stand-in cupy)")
        args = _unwrap(args, f"cupy.{name}")
        kwargs = {k: _unwrap(v, f"cupy.{name}") for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))

    call.__name__ = name
    return call


class _Ufunc:
    """A cupy ufunc: called, or reduced/accumulated along an axis."""

    def __init__(self, name):
        self._np, self.__name__ = getattr(np, name), name

    def __call__(self, *args, **kwargs):
        return _function(self.__name__, self._np)(*args, **kwargs)

    def __getattr__(self, method):
        if method not in ("reduce", "accumulate", "outer"):
            raise AttributeError(f"cupy.{self.__name__} has no method {method!r} (stand-in cupy)")
        return _function(f"{self.__name__}.{method}", getattr(self._np, method))


def _to_device(data, dtype=None, copy=True):
    """cupy.asarray / cupy.array: device arrays stay (copied if asked); host data is a transfer."""
    if isinstance(data, ndarray):
        a = data._a.astype(dtype, copy=copy) if dtype is not None else (data._a.copy() if copy else data._a)
        return ndarray(a)
    if isinstance(data, MemoryPointer):
        _refuse(data, "cupy.asarray")
    a = np.array(data, dtype=dtype)
    _record("to_device", "asarray", a.size)
    return ndarray(a)


class _Generator:
    """cupy.random.Generator: random, standard_normal, integers and uniform, on the device."""

    def __init__(self, seed):
        # seeded as cupy's is (an int or a list of ints, through numpy's SeedSequence), and a stream
        # of its own, as cupy's XORWOW is: the CPU's numbers for the same seed differ
        words = [seed] if isinstance(seed, int) else list(seed or [])
        self._rng = np.random.default_rng(None if seed is None else [*map(int, words), 0xC0FFEE])

    def random(self, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return ndarray(np.asarray(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._rng.uniform(low, high, size)).astype(dtype))


def _wrapped_along(fn):
    """cupy's index-taking functions wrap out-of-bounds indices around, numpy's raise."""
    def call(a, indices, axis=None, *args, **kwargs):
        size = a.size if axis is None else a.shape[axis]
        return fn(a, indices % size if size else indices, axis, *args, **kwargs)

    return call


def _as_strided(x, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided: a view with the given shape and strides. cupy's has no
    `writeable` (or `subok`) argument, so passing one fails here as it would on a GPU."""
    return ndarray(np.lib.stride_tricks.as_strided(_unwrap(x, "cupy.lib.stride_tricks.as_strided"), shape, strides))


_WRAPPING = {"take": _wrapped_along(np.take), "take_along_axis": _wrapped_along(np.take_along_axis),
             "put_along_axis": lambda a, i, v, axis: np.put_along_axis(a, i % a.shape[axis], v, axis)}


class _Cupy(types.ModuleType):
    """`cupy` as far as minigrad uses it (see _FUNCTIONS)."""

    ndarray = ndarray

    def __init__(self):
        super().__init__("cupy", "a strict stand-in for cupy (tests/device/standin.py)")
        self.random = types.SimpleNamespace(default_rng=_Generator)
        self.linalg = types.SimpleNamespace(norm=_function("linalg.norm", np.linalg.norm))
        self.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))

    def __getattr__(self, name):
        if name in ("asarray", "array"):
            return _to_device
        if name == "asnumpy":
            return lambda a: a.get() if isinstance(a, ndarray) else np.asarray(a)
        if name in _PASS_THROUGH:
            return getattr(np, name)
        if name not in _FUNCTIONS:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (the stand-in offers what "
                                 "cupy has; add it to _FUNCTIONS once you have checked cupy provides it)")
        fn = _WRAPPING.get(name) or getattr(np, name)
        return _Ufunc(name) if isinstance(fn, np.ufunc) else _function(name, fn)


def _scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value, repeated indices accumulating."""
    target = _unwrap(a, "cupyx.scatter_add")
    np.add.at(target, _index(slices, target.shape), _unwrap(value, "cupyx.scatter_add"))


def _special(name):
    """cupyx.scipy.special.erf / erfc: the CPU's exact ones (scipy's, or math's without scipy)."""
    from minigrad import backend

    return lambda x: ndarray(getattr(backend, name)(_unwrap(x, f"cupyx.scipy.special.{name}")))


cupy = _Cupy()
cupyx = types.SimpleNamespace(
    scatter_add=_scatter_add,
    scipy=types.SimpleNamespace(special=types.SimpleNamespace(erf=_special("erf"), erfc=_special("erfc"))),
)
