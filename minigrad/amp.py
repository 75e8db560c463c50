"""Mixed precision on a GPU, with PyTorch's names: `autocast` and `GradScaler`.

    scaler = amp.GradScaler()
    for x, y in batches:
        with amp.autocast("cuda"):               # matmuls in float16 on the tensor cores
            _, loss = model(x, y)                # the weights stay float32 ("master weights")
        optimizer.zero_grad()
        scaler.scale(loss).backward()            # loss * S: small float16 gradients do not flush to 0
        scaler.unscale_(optimizer)               # gradients / S, and were any inf or NaN?
        clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)                   # skipped when they were
        scaler.update()                          # S / 2 after an overflow, S * 2 after 2000 clean steps

Inside `autocast("cuda")`, each op on device tensors runs in the dtype PyTorch's CUDA autocast gives
it (tests/test_amp.py checks the two against each other):
* float16: linear, matmul (@, bmm), einsum, scaled_dot_product_attention; their float32 inputs
  are cast, so the gradients of float32 weights come back as float32 (through the cast);
* float32: exp log log1p pow, softmax log_softmax logsumexp, layer_norm rms_norm, cross_entropy,
  sum cumsum prod norm, where float16 inputs are cast up (a float16 sum or exp overflows at 65504);
* anything else runs in the dtype of its inputs, with numpy's promotion (float16 + float32 is
  float32), as in PyTorch.
Where minigrad differs: batch_norm and the recurrent layers (RNN, LSTM, GRU) run in float32 (their
fused kernels are float32); PyTorch runs them in float16 through cuDNN. minigrad never caches the
float16 copy of a weight (PyTorch's cache_enabled); the results are the same.

bfloat16 is not offered: cupy has no bfloat16 arrays. On the CPU autocast changes nothing (numpy
has no bfloat16 and no fast float16 matmul, so everything stays float32): `autocast("cpu")`, and
tensors on the CPU inside `autocast("cuda")`, run exactly as without it. GradScaler works on any
device; without autocast it only multiplies and divides float32 gradients by a power of two.

Off by default: nothing changes unless a block is written inside `autocast`.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import autograd
from .backend import device_of, xp_of

float16, float32 = np.dtype(np.float16), np.dtype(np.float32)


# -- autocast ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _policy() -> dict:
    """Function class -> the dtype autocast runs it in (imported when first needed: the ops sit
    below this module)."""
    from .ops.attention import ScaledDotProductAttention
    from .ops.recurrent import GRUScan, LSTMScan, RNNScan
    from .ops import einsum, elementwise, fused, linalg, norm, pointwise, prod, reduce, scan, vector_norm

    lower = [fused.Linear, linalg.MatMul, einsum.Einsum, ScaledDotProductAttention]
    wider = [elementwise.Exp, elementwise.Log, pointwise.Log1p, elementwise.Pow, fused.Softmax, fused.LogSoftmax,
             reduce.LogSumExp, fused.LayerNorm, norm.RMSNorm, fused.CrossEntropy, reduce.Sum, scan.Cumsum, prod.Prod,
             vector_norm.VectorNorm, norm.BatchNorm, RNNScan, LSTMScan, GRUScan]
    return {**{cls: float16 for cls in lower}, **{cls: float32 for cls in wider}}


def _cast_args(cls, args):
    """autograd's hook: the arguments of an op, cast to the dtype autocast runs it in (device
    tensors and device arrays only; integer ids, masks and CPU tensors pass unchanged)."""
    to = _policy().get(cls)
    if to is None:
        return args
    source = float32 if to == float16 else float16
    cast = None
    for i, a in enumerate(args):
        data = getattr(a, "data", None) if isinstance(a, autograd.Tensor) else a
        if getattr(data, "dtype", None) != source or device_of(data) != "cuda":
            continue
        if cast is None:
            cast = list(args)
        # a Tensor through Cast (its gradient is cast back); a raw array (a dropout mask) directly
        cast[i] = a.to(to) if isinstance(a, autograd.Tensor) else a.astype(to)
    return args if cast is None else tuple(cast)


_stack: list = []  # the enclosing autocast blocks' settings


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether ops on `device_type` tensors are being autocast here."""
    return device_type == "cuda" and autograd.autocast_args is not None


class autocast:  # noqa: N801  (PyTorch's name)
    """Run the ops inside in mixed precision (see the module docstring); usable as a decorator.

    device_type: "cuda" (float16 on a GPU) or "cpu" (no effect: see the module docstring).
    dtype: float16 (the default on "cuda"); bfloat16 is refused (cupy lacks it).
    enabled=False turns autocast off inside an enclosing autocast block."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None):
        if device_type not in ("cuda", "cpu"):
            raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got {device_type!r}")
        if dtype is not None and device_type == "cuda":
            name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
            if "bfloat16" in name or np.dtype(dtype) != float16:
                raise ValueError(f"autocast('cuda'): dtype must be float16, got {name}; cupy has no bfloat16 "
                                 "arrays, so minigrad autocasts to float16 (train with a GradScaler)")
        self.device_type, self.enabled = device_type, bool(enabled)
        self.dtype = float16 if device_type == "cuda" else float32

    def __enter__(self):
        _stack.append(autograd.autocast_args)
        if self.device_type == "cuda":
            autograd.autocast_args = _cast_args if self.enabled else None
        return self

    def __exit__(self, *exc):
        autograd.autocast_args = _stack.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, None, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


# -- GradScaler ---------------------------------------------------------------------------------------
_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _overflowed(record: dict) -> bool:
    """Whether an optimizer's unscaled gradients held an inf or NaN (step() has read it already)."""
    if "skipped" in record:
        return record["skipped"]
    return record["found_inf"] is not None and bool(record["found_inf"])


def _f32(x: float) -> float:
    """x rounded to float32, as PyTorch keeps the scale (a float32 tensor)."""
    return float(np.float32(x))


class GradScaler:
    """Loss scaling for float16 training, with torch.amp.GradScaler's arguments and behaviour:
    `scale(loss)` multiplies by S; `unscale_(optimizer)` divides that optimizer's gradients by S
    and notes whether any is inf or NaN; `step(optimizer)` unscales if not yet done, then runs
    optimizer.step() unless something overflowed (then it returns None and skips the update);
    `update()` halves S (backoff_factor) after an overflow and doubles it (growth_factor) after
    growth_interval overflow-free steps in a row. S is kept as float32, as PyTorch keeps it.

    step() reads one flag from the device (was anything inf?), as PyTorch's does: the one host
    wait of a scaled step. enabled=False makes every method a pass-through."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not isinstance(growth_interval, int) or growth_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        self.device = device
        self._enabled = bool(enabled)
        self._scale = _f32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict = {}  # id(optimizer) -> {"stage", "found_inf" (device array), "skipped"}

    # -- the four steps ------------------------------------------------------------------------------------
    def scale(self, outputs):
        """outputs * S (a Tensor, or a list/tuple of them)."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, autograd.Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: expected a Tensor or a list/tuple of Tensors, got {type(outputs).__name__}")

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": None})

    def unscale_(self, optimizer) -> None:
        """Divide this optimizer's gradients by S, in place, and record whether any is inf or NaN."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("GradScaler.unscale_() has already been called on this optimizer since the last "
                               "update()")
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.unscale_() is being called after step(); call it before step(), "
                               "once per update()")
        inv_scale = _f32(1.0 / self._scale)  # PyTorch: the float32 of the float64 reciprocal
        found_inf = None
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.dtype == float16:
                    raise ValueError("GradScaler.unscale_: attempting to unscale float16 gradients; keep the "
                                     "parameters in float32 and let autocast cast them for its ops")
                g *= inv_scale
                bad = ~xp_of(g).isfinite(g).all()  # stays on the device: no wait here
                found_inf = bad if found_inf is None else found_inf | bad
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(*args, **kwargs) unless the unscaled gradients held an inf or a NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: a closure is not supported while the scaler is enabled")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.step() has already been called since the last update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        state["skipped"] = _overflowed(state)
        state["stage"] = _STEPPED
        return None if state["skipped"] else optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        """Adjust S for the next iteration (or set it to new_scale), and forget this one's records."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = _f32(new_scale.item() if isinstance(new_scale, autograd.Tensor) else new_scale)
        else:
            records = [s for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not records:
                raise RuntimeError("GradScaler.update: no inf checks were recorded since the last update(); call "
                                   "step(optimizer) (or unscale_(optimizer)) first")
            found_inf = any(_overflowed(s) for s in records)
            if found_inf:
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            elif self._growth_tracker + 1 == self._growth_interval:
                grown = _f32(self._scale * self._growth_factor)
                if math.isfinite(grown):
                    self._scale = grown
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
        self._per_optimizer = {}

    # -- PyTorch's accessors -------------------------------------------------------------------------------
    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty, possibly because it was saved "
                               "from a disabled GradScaler")
        self._scale = _f32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


__all__ = ["autocast", "GradScaler", "is_autocast_enabled"]
