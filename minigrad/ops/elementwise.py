"""Elementwise ops. Each forward works on arrays; each backward on Tensors (differentiable again).

Binary ops broadcast like numpy; their backward sums the gradient back to each input's
shape (`unbroadcast`). A Python number as an operand takes no gradient and keeps the
tensor's dtype (float32 * 0.5 stays float32).
"""
from __future__ import annotations

import math

from ..autograd import Function, is_grad_enabled
from ..backend import erf, xp_of
from ._util import const, shape_of, unbroadcast
from .cuda_kernels import on as fused_kernel_for
from .cuda_pointwise import gelu_backward, gelu_forward
from .special import normal_cdf


class Add(Function):
    """z = x + y    dz/dx = 1, dz/dy = 1"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        return x + y

    def backward(ctx, gz):
        sx, sy = ctx.shapes
        return unbroadcast(gz, sx), unbroadcast(gz, sy)


class Sub(Function):
    """z = x - y    dz/dx = 1, dz/dy = -1"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        return x - y

    def backward(ctx, gz):
        sx, sy = ctx.shapes
        return unbroadcast(gz, sx), (None if sy is None else unbroadcast(-gz, sy))


class Mul(Function):
    """z = x * y    dz/dx = y, dz/dy = x"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        ctx.save_for_backward(x, y)
        return x * y

    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        sx, sy = ctx.shapes
        need_x, need_y = ctx.needs_input_grad
        gx = unbroadcast(gz * y, sx) if need_x else None
        gy = unbroadcast(gz * x, sy) if need_y else None
        return gx, gy

    def reads_saved_input(ctx, i):
        return ctx.needs_input_grad[1 - i]  # x for dz/dy, y for dz/dx


class Div(Function):
    """z = x / y    dz/dx = 1/y, dz/dy = -x/y**2"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        ctx.save_for_backward(x, y)
        return x / y

    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        sx, sy = ctx.shapes
        need_x, need_y = ctx.needs_input_grad
        gx = unbroadcast(gz / y, sx) if need_x else None
        gy = unbroadcast(-gz * x / (y * y), sy) if need_y else None
        return gx, gy

    def reads_saved_input(ctx, i):
        return i == 1 or ctx.needs_input_grad[1]  # y always, x only for dz/dy


class Neg(Function):
    """y = -x    dy/dx = -1"""

    def forward(ctx, x):
        return -x

    def backward(ctx, gy):
        return -gy


class Pow(Function):
    """z = x ** y    dz/dx = y * x**(y-1),  dz/dy = z * log(x)

    Either side may be a plain number. The derivative in y needs log(x): for x <= 0 it is
    NaN where z is defined, as in PyTorch.
    """

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        ctx.save_for_backward(x, y)
        ctx.save_output()
        return x ** y

    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        sx, sy = ctx.shapes
        need_x, need_y = ctx.needs_input_grad
        z = ctx.output if sy is not None else None  # PyTorch keeps z whenever the exponent is a tensor
        gx = gy = None
        if need_x:
            if sy is None:  # x ** c: the common case
                gx = gz * (y * x ** (y - 1)) if y != 0 else gz * 0.0
            else:
                gx = gz * y * x ** (y - 1)
            gx = unbroadcast(gx, sx)
        if need_y:
            logx = x.log() if sx is not None else math.log(x)
            gy = unbroadcast(gz * z * logx, sy)
        return gx, gy

    def reads_saved_input(ctx, i):
        return i == 0 or ctx.needs_input_grad[0]  # x always, y only for dz/dx


class Exp(Function):
    """y = exp(x)    dy/dx = y"""

    def forward(ctx, x):
        ctx.save_output()
        return xp_of(x).exp(x)

    def backward(ctx, gy):
        return gy * ctx.output


class Log(Function):
    """y = log(x)    dy/dx = 1/x   (x <= 0 gives -inf/NaN, as in numpy and PyTorch)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).log(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / x


class Sqrt(Function):
    """y = sqrt(x)    dy/dx = 1 / (2 y)"""

    def forward(ctx, x):
        ctx.save_output()
        return xp_of(x).sqrt(x)

    def backward(ctx, gy):
        return gy / (2 * ctx.output)


class Rsqrt(Function):
    """y = 1 / sqrt(x)    dy/dx = -y**3 / 2"""

    def forward(ctx, x):
        ctx.save_output()
        return 1 / xp_of(x).sqrt(x)

    def backward(ctx, gy):
        y = ctx.output
        return gy * (-0.5 * y * y * y)


class Abs(Function):
    """y = |x|    dy/dx = sign(x)   (0 at x = 0, as in PyTorch)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return abs(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * const(xp_of(x.data).sign(x.data))


class Sin(Function):
    """y = sin(x)    dy/dx = cos(x)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).sin(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * x.cos()


class Cos(Function):
    """y = cos(x)    dy/dx = -sin(x)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return xp_of(x).cos(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return -gy * x.sin()


class Tanh(Function):
    """y = tanh(x)    dy/dx = 1 - y**2"""

    def forward(ctx, x):
        ctx.save_output()
        return xp_of(x).tanh(x)

    def backward(ctx, gy):
        y = ctx.output
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x))    dy/dx = y (1 - y)"""

    def forward(ctx, x):
        xp = xp_of(x)
        # the tanh form never overflows: sigmoid(x) = (1 + tanh(x/2)) / 2
        y = xp.tanh(x * 0.5)
        y += 1
        y *= 0.5
        ctx.save_output()
        return y

    def backward(ctx, gy):
        y = ctx.output
        return gy * (y * (1 - y))


class Relu(Function):
    """y = max(x, 0)    dy/dx = 1 where x > 0 (where y > 0), else 0"""

    def forward(ctx, x):
        ctx.save_output()
        return xp_of(x).maximum(x, 0)

    def backward(ctx, gy):
        return gy * (ctx.output > 0)


class Erf(Function):
    """y = erf(x)    dy/dx = 2/sqrt(pi) * exp(-x**2)"""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return erf(x)

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * (2.0 / math.sqrt(math.pi)) * (-(x * x)).exp()


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Gelu(Function):
    """GELU, exact:  y = x Phi(x)          dy/dx = Phi(x) + x phi(x)
    tanh approx.:     y = x/2 (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
                      dy/dx = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3*0.044715 x^2),  t = tanh(u)
    (GPT-2 uses the tanh form; nn.GELU() defaults to the exact one, as in PyTorch.)

    Forward keeps Phi(x) (or t), so the first-order backward is one pass over raw arrays;
    with create_graph the same derivative is built from Tensor ops, to be differentiated again.
    """

    def forward(ctx, x, approximate="none"):
        xp = xp_of(x)
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate in ("none", "tanh") and fused_kernel_for(x):  # one kernel, nothing kept but x
            return gelu_forward(x, approximate)
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            ctx.t = t
            return 0.5 * x * (1 + t)
        if approximate != "none":
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        cdf = normal_cdf(x)  # float32: a vectorised fit (special.py), not scipy's per-element erf
        ctx.cdf = cdf
        return x * cdf

    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        if not is_grad_enabled():  # first order: raw arrays and what forward kept
            xd, g = x.data, gy.data
            if fused_kernel_for(xd):
                return const(gelu_backward(xd, g, ctx.approximate))
            if ctx.approximate == "tanh":
                t = ctx.t
                du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * xd * xd)
                return const(g * (0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * du))
            pdf = _INV_SQRT_2PI * xp_of(xd).exp(-0.5 * xd * xd)
            return const(g * (ctx.cdf + xd * pdf))
        if ctx.approximate == "tanh":
            t = (_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh()
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        cdf = 0.5 * (1 + (x * _INV_SQRT_2).erf())
        pdf = _INV_SQRT_2PI * (-0.5 * x * x).exp()
        return gy * (cdf + x * pdf)


class Clamp(Function):
    """y = min(max(x, lo), hi)    dy/dx = 1 where lo <= x <= hi, else 0 (as in PyTorch)"""

    def forward(ctx, x, lo=None, hi=None):
        ctx.bounds = (lo, hi)
        ctx.save_for_backward(x)
        return xp_of(x).clip(x, lo, hi)

    def backward(ctx, gy):
        x = ctx.saved_tensors[0].data
        lo, hi = ctx.bounds
        inside = xp_of(x).ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return gy * const(inside)


class Maximum(Function):
    """z = max(x, y)    dz/dx = 1 where x > y, 1/2 where x == y, else 0 (ties split, as PyTorch)"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        ctx.save_for_backward(x, y)
        return xp_of(x).maximum(x, y)

    def backward(ctx, gz):
        x, y = (getattr(a, "data", a) for a in ctx.saved_tensors)
        sx, sy = ctx.shapes
        wx = const(((x > y) + 0.5 * (x == y)).astype(gz.dtype, copy=False))
        return unbroadcast(gz * wx, sx), unbroadcast(gz * (1 - wx), sy)


class Minimum(Function):
    """z = min(x, y)    dz/dx = 1 where x < y, 1/2 where x == y, else 0"""

    def forward(ctx, x, y):
        ctx.shapes = (shape_of(x), shape_of(y))
        ctx.save_for_backward(x, y)
        return xp_of(x).minimum(x, y)

    def backward(ctx, gz):
        x, y = (getattr(a, "data", a) for a in ctx.saved_tensors)
        sx, sy = ctx.shapes
        wx = const(((x < y) + 0.5 * (x == y)).astype(gz.dtype, copy=False))
        return unbroadcast(gz * wx, sx), unbroadcast(gz * (1 - wx), sy)


class Where(Function):
    """z = cond ? x : y    dz/dx = cond, dz/dy = not cond   (cond takes no gradient)"""

    def forward(ctx, cond, x, y):
        ctx.cond = cond
        ctx.shapes = (shape_of(x), shape_of(y))
        return xp_of(cond).where(cond, x, y)

    def backward(ctx, gz):
        sx, sy = ctx.shapes
        c = const(ctx.cond)
        _, need_x, need_y = ctx.needs_input_grad
        gx = unbroadcast(Where.apply(c, gz, 0.0), sx) if need_x else None
        gy = unbroadcast(Where.apply(c, 0.0, gz), sy) if need_y else None
        return None, gx, gy


class Cast(Function):
    """y = x as another float dtype    dy/dx = 1 (the gradient is cast back)"""

    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, gy):
        return Cast.apply(gy, ctx.in_dtype) if gy.dtype != ctx.in_dtype else gy


class Contiguous(Function):
    """y = x laid out in C order (a copy)    dy/dx = 1"""

    def forward(ctx, x):
        return xp_of(x).ascontiguousarray(x)

    def backward(ctx, gy):
        return gy


class ToDevice(Function):
    """y = x on another device    dy/dx = 1 (the gradient travels back)"""

    def forward(ctx, x, device):
        from ..backend import device_of, to_device

        ctx.src = device_of(x)
        return to_device(x, device)

    def backward(ctx, gy):
        return ToDevice.apply(gy, ctx.src)
