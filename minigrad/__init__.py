"""minigrad: an autograd engine and a tiny PyTorch-shaped framework on numpy (cupy on a GPU).

    import minigrad as mg
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x.tanh() * x).sum()
    loss.backward()
    print(x.grad)
"""

import numpy as _np

from . import allocator as _allocator
from . import autograd
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import cuda_is_available
from .creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, multinomial, ones,
    ones_like, rand, rand_like, randint, randn, randn_like, randperm, zeros, zeros_like,
)
from .gradcheck import gradcheck, gradgradcheck
from .ops.einsum import einsum
from .promotion import can_cast, promote_types, result_type
from . import random as _random
from .random import Generator, get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor, cat, stack, tensor, where
from .threads import get_num_threads, set_num_threads

from . import amp
from .amp import autocast
from .autograd import functional as _autograd_functional  # noqa: F401  (minigrad.autograd.functional)

__version__ = "0.1.0"

_allocator.tune()  # reuse freed host memory between training steps (see allocator.py)

float16 = _np.dtype(_np.float16)
float32 = _np.dtype(_np.float32)
float64 = _np.dtype(_np.float64)
int32 = _np.dtype(_np.int32)
int64 = _np.dtype(_np.int64)
uint8 = _np.dtype(_np.uint8)
bool_ = _np.dtype(_np.bool_)
long = int64
double = float64
half = float16


class cuda:  # noqa: N801  (torch.cuda.is_available() reads the same here)
    is_available = staticmethod(cuda_is_available)
    get_rng_state = staticmethod(_random.get_device_rng_state)  # see random.py: the device stream's key
    set_rng_state = staticmethod(_random.set_device_rng_state)


# functional forms of the common methods: minigrad.exp(x) == x.exp()
def _method(name):
    def fn(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"minigrad.{name}(x, ...) is x.{name}(...)"
    return fn


for _name in (
    "exp", "log", "sqrt", "rsqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "erf", "clamp",
    "sum", "mean", "amax", "amin", "argmax", "argmin", "var", "std", "logsumexp", "softmax",
    "log_softmax", "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "split",
    "chunk", "tril", "triu", "gather", "index_select", "matmul", "maximum", "minimum",
    "masked_fill", "cumsum", "unbind", "movedim", "isnan", "isfinite", "square",
    "add", "sub", "mul", "div", "pow", "log1p", "prod", "norm", "sort", "argsort", "topk", "flip",
    "roll", "scatter", "scatter_add", "masked_select", "mm", "bmm", "outer",
):
    globals()[_name] = _method(_name)
del _name


def max(x, dim=None, keepdim=False):  # noqa: A001  (torch.max shadows the builtin too)
    return x.max(dim, keepdim) if not isinstance(dim, Tensor) else x.maximum(dim)


def min(x, dim=None, keepdim=False):  # noqa: A001
    return x.min(dim, keepdim) if not isinstance(dim, Tensor) else x.minimum(dim)


# minigrad.nn, .optim, .data and .io are attributes as torch.nn is, imported on first use: a plain
# `import minigrad` stays quick, and the engine never depends on the layers built on it
_SUBPACKAGES = ("nn", "optim", "data", "io")


def __getattr__(name):
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
