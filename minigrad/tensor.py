"""Tensor: an array, its gradient, and the node of the graph that made it.

    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad          # tensor([2., 4.])

`data` is a numpy array (a cupy array on a GPU). Operators build graph nodes (see
autograd.py) when a gradient is wanted; `grad` is itself a Tensor, so that gradients can be
differentiated again. Integer and bool tensors (indices, masks) never require grad.
"""
from __future__ import annotations

import operator
import weakref
from collections import namedtuple

import numpy as np

from . import autograd, views
from .backend import as_array, device_of, normalize_device, to_device, to_numpy, xp_for, xp_of
from .backend import item as backend_item
from .promotion import DEFAULT_FLOAT, result_type
_Handle = autograd._Handle
values_indices = namedtuple("values_indices", ["values", "indices"])


def _as_array(data, dtype=None, device=None):
    """Turn Python data or an array into a new array with PyTorch's default dtypes.

    Like torch.tensor, this copies: changing the source array later does not change the tensor
    (minigrad.from_numpy shares memory instead).
    """
    if isinstance(data, Tensor):
        data = data.data
    xp = xp_for(device) if device is not None else xp_of(data)
    if hasattr(data, "__array__") or hasattr(data, "__cuda_array_interface__"):
        arr = data if device is None else to_device(data, device)  # a transfer makes a copy
        if arr is data:
            arr = xp.array(data, copy=True)
    else:
        arr = np.asarray(data)
        if dtype is None:  # Python numbers: float -> float32, int -> int64, bool -> bool
            if arr.dtype.kind == "f":
                arr = arr.astype(DEFAULT_FLOAT)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
        if xp is not np:
            arr = xp.asarray(arr)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def _no_grad_result(array):
    """A tensor for a result that carries no gradient (a comparison, a sign, a mask)."""
    return Tensor._make(as_array(array), False, None)


def _check_requires_grad(arr, requires_grad):
    if requires_grad and arr.dtype.kind not in "fc":
        raise RuntimeError(
            f"only floating point tensors can require gradients; this one has dtype {arr.dtype}. "
            "Indices and masks stay integer/bool; call .float() if you really want a gradient"
        )


class Tensor:
    # _version, _view and _views: the in-place machinery of views.py (the version counter shared
    # with every alias; for a view, its base and how it was cut; for a base, its views)
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_version", "_view", "_views", "_hooks", "name",
                 "__weakref__")
    __array_priority__ = 1000  # numpy scalars defer to Tensor's operators

    def __init__(self, data, dtype=None, device=None, requires_grad=False, name=None):
        arr = _as_array(data, dtype, device)
        _check_requires_grad(arr, requires_grad)
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self._version = [0]
        self._view = self._views = None
        self._hooks = None
        self.name = name

    @staticmethod
    def _make(data, requires_grad, grad_fn, version=None):
        """A Tensor around an array, without __init__'s checks (the engine's fast path)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = grad_fn
        t._version = version if version is not None else [0]
        t._view = t._views = None
        t._hooks = None
        t.name = None
        return t

    # -- what it is ------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return device_of(self.data)

    @property
    def xp(self):
        return xp_of(self.data)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _base(self):
        """The tensor this one is a view of (None if it is none), as in PyTorch."""
        return None if self._view is None else self._view[0]

    @property
    def is_cuda(self):
        return self.device == "cuda"

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a number, got shape {self.shape}")
        return backend_item(self.data)

    def numpy(self):
        """The values as a numpy array (copied from the GPU when needed); no gradient flows."""
        return to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(backend_item(self.data))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        arr = self.numpy()
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4, threshold=200, edgeitems=3)
        extras = []
        if arr.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={arr.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # -- autograd ----------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad (gradient= for non-scalars)."""
        autograd.backward(self, gradient, retain_graph, create_graph)

    def detach(self):
        """The same values, cut from the graph (shares data and version counter)."""
        return Tensor._make(self.data, False, None, version=self._version)

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) only works on leaf tensors; use .detach()")
        _check_requires_grad(self.data, requires_grad)
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves keep theirs anyway)."""
        if self.grad_fn is not None:
            self.grad_fn._retain = weakref.ref(self)
        return self

    def register_hook(self, fn):
        """fn(grad) is called with this tensor's gradient; it may return a replacement."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if self.grad_fn._hooks is None:
                self.grad_fn._hooks = []
            hooks = self.grad_fn._hooks
        hooks.append(fn)
        return _Handle(hooks, fn)

    # -- devices and dtypes -----------------------------------------------------------------
    def to(self, *args, device=None, dtype=None):
        for a in args:
            if isinstance(a, str):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            else:
                dtype = a
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.type(dtype)
        if device is not None and normalize_device(device) != out.device:
            out = elementwise.ToDevice.apply(out, normalize_device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def type(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind in "fc" and self.dtype.kind in "fc":
            return elementwise.Cast.apply(self, dtype)
        return Tensor._make(self.data.astype(dtype), False, None)

    def float(self):
        return self.type(np.float32)

    def double(self):
        return self.type(np.float64)

    def half(self):
        return self.type(np.float16)

    def long(self):
        return self.type(np.int64)

    def int(self):
        return self.type(np.int32)

    def bool(self):
        return self.type(np.bool_)

    def type_as(self, other):
        return self.type(other.dtype)

    def clone(self):
        return self * 1 if self.requires_grad else Tensor._make(self.data.copy(), False, None)

    def contiguous(self):
        """A C-ordered copy when the data is a strided view (after permute/transpose), else self.

        numpy's batched matmul on a transposed view can be ten times slower than on a copy."""
        if self.data.flags.c_contiguous:
            return self
        return elementwise.Contiguous.apply(self)

    # -- arithmetic ----------------------------------------------------------------------------
    def _other(self, other):
        """Python numbers pass through (they keep this tensor's dtype); arrays become tensors."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic):  # before float: np.float64 is a float that numpy treats as strong
            return other.item()
        if isinstance(other, (int, float, bool)):
            return other
        return Tensor(other, device=self.device)

    def _operands(self, other, true_division=False):
        """(self, other) for a binary op, in the dtype PyTorch computes it in (promotion.py): a tensor
        of another dtype is cast (a Cast node, so its gradient comes back in its own dtype); a Python
        number stays a number, which numpy never lets widen a tensor either. True division of
        integers gives the default float."""
        other = self._other(other)
        dtype = self.data.dtype
        if isinstance(other, Tensor):
            if other.data.dtype.kind == "b" and not true_division:  # a mask (relu's backward, dropout):
                return self, other  # numpy promotes a bool as PyTorch does, and it takes no gradient
            if other.data.dtype is not dtype:
                dtype = result_type(self, other)
        elif not (dtype.kind == "f" or (dtype.kind in "iu" and not isinstance(other, float))):
            dtype = result_type(self, other)  # a number of a higher kind: bool + 1, int + 1.5
        if true_division and dtype.kind in "biu":
            dtype = DEFAULT_FLOAT
        x = self if self.data.dtype == dtype else _promoted(self, dtype)
        if isinstance(other, Tensor) and other.data.dtype != dtype:
            other = _promoted(other, dtype)
        elif true_division and isinstance(other, int) and dtype.kind == "f":
            other = float(other)
        return x, other

    # the common case, two tensors of one dtype, goes straight to the op
    def __add__(self, other):
        if isinstance(other, Tensor) and other.data.dtype is self.data.dtype:
            return elementwise.Add.apply(self, other)
        return elementwise.Add.apply(*self._operands(other))

    def __radd__(self, other):
        x, y = self._operands(other)
        return elementwise.Add.apply(y, x)

    def __sub__(self, other):
        if isinstance(other, Tensor) and other.data.dtype is self.data.dtype:
            return elementwise.Sub.apply(self, other)
        return elementwise.Sub.apply(*self._operands(other))

    def __rsub__(self, other):
        x, y = self._operands(other)
        return elementwise.Sub.apply(y, x)

    def __mul__(self, other):
        if isinstance(other, Tensor) and other.data.dtype is self.data.dtype:
            return elementwise.Mul.apply(self, other)
        return elementwise.Mul.apply(*self._operands(other))

    def __rmul__(self, other):
        x, y = self._operands(other)
        return elementwise.Mul.apply(y, x)

    def __truediv__(self, other):
        return elementwise.Div.apply(*self._operands(other, true_division=True))

    def __rtruediv__(self, other):
        x, y = self._operands(other, true_division=True)
        return elementwise.Div.apply(y, x)

    def __pow__(self, other):
        return elementwise.Pow.apply(*self._operands(other))

    def __rpow__(self, other):
        x, y = self._operands(other)
        return elementwise.Pow.apply(y, x)

    def __neg__(self):
        return elementwise.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise.Abs.apply(self)

    def __matmul__(self, other):
        return linalg.MatMul.apply(self, self._other(other))

    def __rmatmul__(self, other):
        return linalg.MatMul.apply(self._other(other), self)

    # in-place arithmetic keeps the tensor object, as PyTorch does
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # -- comparisons: results are bool and carry no gradient --------------------------------
    def _compare(self, other, fn):
        o = other.data if isinstance(other, Tensor) else other
        return _no_grad_result(fn(self.data, o))

    def __eq__(self, other):
        return self._compare(other, operator.eq)

    def __ne__(self, other):
        return self._compare(other, operator.ne)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def __invert__(self):
        return _no_grad_result(~self.data)

    def __and__(self, other):
        return self._compare(other, operator.and_)

    def __or__(self, other):
        return self._compare(other, operator.or_)

    def __xor__(self, other):
        return self._compare(other, operator.xor)

    def logical_not(self):
        return _no_grad_result(self.xp.logical_not(self.data))

    def isnan(self):
        return _no_grad_result(self.xp.isnan(self.data))

    def isfinite(self):
        return _no_grad_result(self.xp.isfinite(self.data))

    def any(self, dim=None):
        return Tensor._make(self.xp.asarray(self.data.any(axis=dim)), False, None)

    def all(self, dim=None):
        return Tensor._make(self.xp.asarray(self.data.all(axis=dim)), False, None)

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        o = other.data if isinstance(other, Tensor) else other
        return bool(self.xp.allclose(self.data, o, rtol=rtol, atol=atol))

    # -- elementwise functions -------------------------------------------------------------
    def exp(self):
        return elementwise.Exp.apply(self)

    def log(self):
        return elementwise.Log.apply(self)

    def sqrt(self):
        return elementwise.Sqrt.apply(self)

    def rsqrt(self):
        return elementwise.Rsqrt.apply(self)

    def abs(self):
        return elementwise.Abs.apply(self)

    def sin(self):
        return elementwise.Sin.apply(self)

    def cos(self):
        return elementwise.Cos.apply(self)

    def tanh(self):
        return elementwise.Tanh.apply(self)

    def sigmoid(self):
        return elementwise.Sigmoid.apply(self)

    def relu(self):
        return elementwise.Relu.apply(self)

    def erf(self):
        return elementwise.Erf.apply(self)

    def gelu(self, approximate="none"):
        return elementwise.Gelu.apply(self, approximate=approximate)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min and max")
        # bounds as Python numbers, so that they never promote a float32 tensor
        min, max = (b.item() if isinstance(b, (Tensor, np.generic)) else b for b in (min, max))
        return elementwise.Clamp.apply(self, min, max)

    clip = clamp

    def square(self):
        return self * self

    def sign(self):
        return _no_grad_result(self.xp.sign(self.data))

    def maximum(self, other):
        return elementwise.Maximum.apply(*self._operands(other))

    def minimum(self, other):
        return elementwise.Minimum.apply(*self._operands(other))

    # -- reductions ------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return reductions.Sum.apply(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        x = self.float() if self.dtype.kind in "iub" else self
        return reductions.Mean.apply(x, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        """max over everything (ties share the gradient), or (values, indices) along dim."""
        if dim is None:
            return reductions.Max.apply(self, None, False, True)
        if not isinstance(dim, (int, np.integer)):
            raise TypeError(f"max: dim must be one int, got {dim!r}; use amax() to reduce over several dims")
        values = reductions.Max.apply(self, dim, keepdim, False)
        return values_indices(values, self.argmax(dim, keepdim))

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return reductions.Min.apply(self, None, False, True)
        if not isinstance(dim, (int, np.integer)):
            raise TypeError(f"min: dim must be one int, got {dim!r}; use amin() to reduce over several dims")
        values = reductions.Min.apply(self, dim, keepdim, False)
        return values_indices(values, self.argmin(dim, keepdim))

    def amax(self, dim=None, keepdim=False):
        return reductions.Max.apply(self, dim, keepdim, True)

    def amin(self, dim=None, keepdim=False):
        return reductions.Min.apply(self, dim, keepdim, True)

    def argmax(self, dim=None, keepdim=False):
        return self._arg("argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg("argmin", dim, keepdim)

    def _arg(self, which, dim, keepdim):
        if dim is None:
            return Tensor._make(self.xp.asarray(getattr(self.data, which)()), False, None)
        dim = normalize_dim(dim, self.ndim, which)
        if self.ndim == 0:  # one value, at index 0
            return Tensor._make(self.xp.zeros((), dtype=np.int64), False, None)
        return Tensor._make(getattr(self.data, which)(axis=dim, keepdims=keepdim), False, None)

    def var(self, dim=None, keepdim=False, unbiased=None, correction=None):
        """Variance; correction=1 (Bessel's, the default as in PyTorch) divides by n - 1 (NaN for one value)."""
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        return reductions.Var.apply(self, dim, keepdim, correction)

    def std(self, dim=None, keepdim=False, unbiased=None, correction=None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        return reductions.Std.apply(self, dim, keepdim, correction)

    def logsumexp(self, dim=None, keepdim=False):
        return reductions.LogSumExp.apply(self, dim, keepdim)

    def cumsum(self, dim):
        """Cumulative sum along dim (differentiable: the gradient is a cumsum from the end)."""
        return scan.Cumsum.apply(self, dim)

    def softmax(self, dim=-1):
        return fused.Softmax.apply(self, dim)

    def log_softmax(self, dim=-1):
        return fused.LogSoftmax.apply(self, dim)

    # -- shapes: these return views (views.py), sharing memory and version counter with self --
    def reshape(self, *shape):
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        return views.make_view(shape_ops.Reshape, self, shape)

    def view(self, *shape):
        """reshape that never copies: a layout it cannot view is an error, as in PyTorch."""
        y = self.reshape(*shape)
        if y is not self and y._view is None and self.data.size:
            raise RuntimeError(
                f"view: shape {tuple(_shape_arg(shape))} is not compatible with the size and strides of this "
                f"tensor of shape {tuple(self.shape)} (a dim spans two contiguous subspaces, e.g. after a "
                "transpose); use .reshape(...), which copies, instead"
            )
        return y

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        s = normalize_dim(start_dim, self.ndim, "flatten")
        e = normalize_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(self.shape)})")
        if self.ndim == 0:
            return self.reshape(1)
        n = 1
        for d in self.shape[s:e + 1]:
            n *= d
        return self.reshape(self.shape[:s] + (n,) + self.shape[e + 1:])

    def unflatten(self, dim, sizes):
        dim = normalize_dim(dim, self.ndim, "unflatten")
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def permute(self, *dims):
        dims = tuple(normalize_dim(d, self.ndim, "permute") for d in _shape_arg(dims))
        return views.make_view(shape_ops.Permute, self, dims if self.ndim else ())

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        dim0, dim1 = normalize_dim(dim0, self.ndim, "transpose"), normalize_dim(dim1, self.ndim, "transpose")
        if self.ndim:
            dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return views.make_view(shape_ops.Permute, self, tuple(dims))

    @property
    def T(self):
        return views.make_view(shape_ops.Permute, self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The last two dims swapped: the transpose of each matrix in a batch."""
        if self.ndim == 1:
            raise RuntimeError("mT: needs a matrix or a batch of matrices, got a 1-D tensor; use .T or unsqueeze first")
        return self.transpose(-2, -1) if self.ndim else self.transpose(0, 0)  # 0-d: itself, as in PyTorch

    def movedim(self, source, destination):
        source = normalize_dim(source, self.ndim, "movedim")
        destination = normalize_dim(destination, self.ndim, "movedim")
        order = [d for d in range(self.ndim) if d != source]
        order.insert(destination, source)
        return views.make_view(shape_ops.Permute, self, tuple(order) if self.ndim else ())

    def expand(self, *shape):
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        return views.make_view(shape_ops.Expand, self, shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = set(normalize_dims(dim, self.ndim, "squeeze"))
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim):
        dim = normalize_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def _check_has_dims(self, op):
        if self.ndim == 0:
            raise RuntimeError(f"{op}: a 0-d tensor has no dim to {op}; reshape it to (1,) first")

    def split(self, split_size_or_sections, dim=0):
        self._check_has_dims("split")
        dim = normalize_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, int):
            sizes = [split_size_or_sections] * (n // split_size_or_sections)
            if n % split_size_or_sections:
                sizes.append(n % split_size_or_sections)
            sizes = sizes or [0]  # an empty dim splits into one empty piece, as in PyTorch
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(f"split: sections {sizes} do not add up to the size {n} of dim {dim}")
        out, start = [], 0
        for s in sizes:
            out.append(views.make_view(shape_ops.GetItem, self, (slice(None),) * dim + (slice(start, start + s),),
                                       one_of_several=True))
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        self._check_has_dims("chunk")
        n = self.shape[normalize_dim(dim, self.ndim, "chunk")]
        if n == 0:  # an empty dim gives `chunks` empty pieces, as in PyTorch
            return self.split([0] * chunks, dim)
        return self.split(-(-n // chunks), dim)

    def unbind(self, dim=0):
        self._check_has_dims("unbind")
        dim = normalize_dim(dim, self.ndim, "unbind")
        return tuple(views.make_view(shape_ops.GetItem, self, (slice(None),) * dim + (i, Ellipsis), one_of_several=True)
                     for i in range(self.shape[dim]))

    def tril(self, diagonal=0):
        return shape_ops.Tril.apply(self, diagonal)

    def triu(self, diagonal=0):
        return shape_ops.Triu.apply(self, diagonal)

    def masked_fill(self, mask, value):
        """Where mask is True put value; the gradient flows only where mask is False."""
        if isinstance(value, Tensor):
            value = value.item()
        return elementwise.Where.apply(_as_mask(mask, "masked_fill"), float(value), self)

    def pad(self, pad, value=0.0):
        return shape_ops.Pad.apply(self, tuple(pad), value)

    def repeat(self, *sizes):
        """Copies tiled along each dim: new memory, as in PyTorch (never a view)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: {len(sizes)} repeat counts for a tensor with {self.ndim} dims; give one per dim")
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        expanded = []
        for s, r in zip(x.shape, sizes):
            expanded += [r, s]
        out = x.reshape(sum(((1, s) for s in x.shape), ())).expand(tuple(expanded)).reshape(
            tuple(s * r for s, r in zip(x.shape, sizes))
        )
        return out.clone() if out is self or out._view is not None else out

    # -- indexing -------------------------------------------------------------------------------
    def __getitem__(self, index):
        """Ints, slices, None and ... give a view; tensors, lists and masks a copy (as in numpy)."""
        index = _index_arg(index, self.data)
        basic = views.basic_index(index, self.ndim)
        if basic is not None:
            return views.make_view(shape_ops.GetItem, self, basic)
        return shape_ops.GetItem.apply(self, index)

    def __setitem__(self, index, value):
        value = self._other(value)
        if isinstance(value, Tensor) and value.dtype != self.dtype:
            value = value.type(self.dtype)
        views.setitem(self, _index_arg(index, self.data), value)

    def gather(self, dim, index):
        return shape_ops.Gather.apply(self, dim, _as_index(index, "gather", self.data))

    def index_select(self, dim, index):
        return shape_ops.IndexSelect.apply(self, dim, _as_index(index, "index_select", self.data))

    def take_along_dim(self, index, dim):
        return self.gather(dim, index)

    # -- linear algebra ---------------------------------------------------------------------
    def matmul(self, other):
        return self @ other

    # -- methods that ported PyTorch code calls (each against torch in tests/parity) ----------
    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def log1p(self):
        return pointwise.Log1p.apply(self)

    def prod(self, dim=None, keepdim=False):
        return prod.Prod.apply(self, dim, keepdim)

    def norm(self, p="fro", dim=None, keepdim=False):
        """The vector p-norm over dim (all dims by default); "fro" is the 2-norm of all the values."""
        if p == "fro":
            p = 2.0
        if isinstance(p, str):
            raise ValueError(f"norm: p must be a number, inf or 'fro', got {p!r} (matrix norms such as 'nuc' are not implemented)")
        return vector_norm.VectorNorm.apply(self, float(p), dim, keepdim)

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) along dim; equal values keep their order."""
        idx = sorting.sort_indices(self.data, dim, descending)
        return values_indices(self.gather(dim, idx) if self.ndim else self, _no_grad_result(idx))

    def argsort(self, dim=-1, descending=False, stable=False):
        return _no_grad_result(sorting.sort_indices(self.data, dim, descending))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """(values, indices) of the k largest (smallest) values along dim, largest first."""
        idx = sorting.topk_indices(self.data, k, dim, largest)
        return values_indices(self.gather(dim, idx) if self.ndim else self, _no_grad_result(idx))

    def flip(self, *dims):
        dims = {normalize_dim(d, self.ndim, "flip") for d in _shape_arg(dims)}
        return self[tuple(slice(None, None, -1) if d in dims else slice(None) for d in range(self.ndim))]

    def roll(self, shifts, dims=None):
        """Shift elements along dims, wrapping around (dims=None: over the flattened tensor)."""
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shifts, dims = _shape_arg((shifts,)), _shape_arg((dims,))
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims; give one shift per dim")
        out = self
        for shift, d in zip(shifts, dims):
            d = normalize_dim(d, self.ndim, "roll")
            n = self.shape[d]
            s = shift % n if n else 0
            if s:  # the last s entries move to the front
                before = (slice(None),) * d
                out = cat([out[before + (slice(n - s, None),)], out[before + (slice(0, n - s),)]], d)
        return out

    def scatter(self, dim, index, src=None, value=None):
        """A copy with src (or value) written at index along dim, as torch.scatter."""
        src = value if src is None else src
        idx = _as_index(index, "scatter", self.data)
        dim = scatter.check_scatter("scatter", self.shape, dim, idx, getattr(src, "shape", None))
        if isinstance(src, Tensor):
            src = src[tuple(slice(0, n) for n in idx.shape)].type(self.dtype)
        return scatter.Scatter.apply(self, src, dim, idx)

    def scatter_add(self, dim, index, src):
        """A copy with src added at index along dim (repeated positions add up), as torch.scatter_add."""
        idx = _as_index(index, "scatter_add", self.data)
        dim = scatter.check_scatter("scatter_add", self.shape, dim, idx, src.shape)
        return self + shape_ops.ScatterAdd.apply(src[tuple(slice(0, n) for n in idx.shape)], dim, idx, self.shape)

    def masked_select(self, mask):
        """The values where mask is True, as a 1-D tensor (mask and self broadcast together)."""
        m = _as_mask(mask, "masked_select")
        shape = np.broadcast_shapes(self.shape, m.shape)
        return self.expand(shape)[m.expand(shape).data]

    def mm(self, mat2):
        if self.ndim != 2 or mat2.ndim != 2:
            raise ValueError(f"mm: expected two matrices, got shapes {tuple(self.shape)} and {tuple(mat2.shape)}; use matmul for batches")
        return self @ mat2

    def bmm(self, mat2):
        if self.ndim != 3 or mat2.ndim != 3 or self.shape[0] != mat2.shape[0]:
            raise ValueError(f"bmm: expected two batches of matrices (b, n, m) and (b, m, p), got shapes {tuple(self.shape)} and {tuple(mat2.shape)}")
        return self @ mat2

    def outer(self, vec2):
        if self.ndim != 1 or vec2.ndim != 1:
            raise ValueError(f"outer: expected two vectors, got shapes {tuple(self.shape)} and {tuple(vec2.shape)}")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    # -- in-place ops: they write into self's memory, which its views share (views.py) ------
    def add_(self, other, alpha=1):
        other = self._other(other)
        return views.arithmetic(self, "add_", other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        other = self._other(other)
        return views.arithmetic(self, "sub_", other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return views.arithmetic(self, "mul_", self._other(other))

    def div_(self, other):
        return views.arithmetic(self, "div_", self._other(other))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return views.assign(self, "fill_", self._other(value))

    def copy_(self, src):
        return views.assign(self, "copy_", src)

    def clamp_(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp_: give at least one of min and max")
        min, max = (b.item() if isinstance(b, (Tensor, np.generic)) else b for b in (min, max))
        return views.clamp(self, min, max)

    def masked_fill_(self, mask, value):
        return views.masked_fill(self, _as_mask(mask, "masked_fill_"), value.item() if isinstance(value, Tensor) else value)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from .random import get_rng

        # drawn where the tensor lives (cupy's generator on a GPU): nothing crosses the bus
        return views.assign(self, "uniform_", get_rng(generator, self.xp).uniform(a, b, size=self.shape).astype(self.dtype))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from .random import get_rng

        # mean + std * z: what numpy's normal() computes, and cupy's Generator has no normal()
        z = get_rng(generator, self.xp).standard_normal(self.shape)
        return views.assign(self, "normal_", (z * std + mean).astype(self.dtype))


def _promoted(t, dtype):
    """t cast for type promotion. The copy stands for t inside the op, so it shares t's version
    counter: an op that saved it sees a later in-place change of t, as PyTorch (which saves t
    itself) does."""
    cast = t.type(dtype)
    cast._version = t._version
    return cast


def _shape_arg(shape):
    """reshape(2, 3) and reshape((2, 3)) both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _as_index(index, op, like=None):
    """An integer index as an array: a bare device array (an order from argsort) stays where it is;
    given the indexed data `like`, a host index moves to its device once (as indexing does)."""
    arr = index.data if isinstance(index, Tensor) else index if xp_of(index) is not np else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {arr.dtype}; use .long()")
    if like is not None and isinstance(arr, np.ndarray) and not isinstance(like, np.ndarray):
        arr = to_device(arr, device_of(like))
    return arr


def _as_mask(mask, op):
    m = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got dtype {m.dtype}; compare first, e.g. (x == 0)")
    return m


def _index_arg(index, data):
    """Tensors inside an index become arrays; lists become integer (or bool) arrays; on a GPU,
    host index arrays move to the indexed data's device (numpy arrays must not meet cupy's)."""
    if isinstance(index, tuple):
        return tuple(_index_arg(i, data) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and not isinstance(data, np.ndarray):
        return to_device(index, device_of(data))
    return index


def tensor(data, dtype=None, device=None, requires_grad=False, name=None):
    """A new tensor from Python data or an array (floats default to float32, ints to int64).
    `name` labels it in graphs drawn by minigrad.viz."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad, name=name)


# functions that read better as minigrad.where(...) than as methods
def where(condition, input, other):
    """condition ? input : other, elementwise; the gradient goes to the branch that was taken."""
    cond = _as_mask(condition, "where")
    a = input if isinstance(input, Tensor) else (input.item() if isinstance(input, np.generic) else input)
    b = other if isinstance(other, Tensor) else (other.item() if isinstance(other, np.generic) else other)
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype):
        dtype = result_type(a, b)
        a, b = (_promoted(t, dtype) if isinstance(t, Tensor) and t.dtype != dtype else t for t in (a, b))
    return elementwise.Where.apply(cond, a, b)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dtype = tensors[0].dtype
    if any(t.dtype != dtype for t in tensors):  # as PyTorch: float32 and float64 concatenate as float64
        dtype = result_type(*tensors)
        tensors = [t if t.dtype == dtype else t.type(dtype) for t in tensors]
    return shape_ops.Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([t.unsqueeze(dim) for t in tensors], dim=dim)


autograd.Tensor = Tensor  # the engine makes Tensors without importing this module

from .ops import elementwise, fused, linalg  # noqa: E402  (the ops need Tensor defined first)
from .ops import reduce as reductions, shape as shape_ops  # noqa: E402
from .ops import pointwise, prod, scan, scatter, sort as sorting, vector_norm  # noqa: E402
from .ops._util import normalize_dim, normalize_dims  # noqa: E402
