"""Random programs run in minigrad and in PyTorch: the engine as a whole, not op by op.

A program starts from 1-3 leaves (0-d and size-1 dims included, float32 and float64 mixed) and
takes 3-8 steps. A step is one op (sometimes with a guard that keeps values in a sane range, as
`(x.abs() + 0.5).log()`): elementwise, broadcasting binary ops with tensors and Python numbers,
reductions with dim/keepdim, shape ops, indexing, matmul, softmax/log_softmax, casts, and in-place
ops on intermediates, on leaves and on views. Programs are drawn with PyTorch as the oracle of
shapes: each drawn step runs in PyTorch at once, so the next one is drawn for the shapes that
exist. A step PyTorch refuses ends the program there.

Then the program runs again in both libraries and `check` asks:
- where PyTorch refuses (a step, or backward), minigrad refuses at the same place, with an error
  raised by minigrad's own code (not a raw numpy error);
- otherwise every value agrees (shape, dtype, requires_grad, and the numbers: after all in-place
  writes, so a write through a view must reach its base), and so does every leaf's gradient of
  sum_i <value_i, projection_i> (its dtype is the leaf's): to 1e-8 in float64, 1e-4 once float32
  takes part, relative to the tensor's scale.
"""
from __future__ import annotations

import os
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as TF
from hypothesis import strategies as st

import minigrad as mg

MINIGRAD_DIR = os.path.dirname(mg.__file__)
MAX_STEPS = 8


class Lib:
    """The few spellings that differ between the libraries; everything else is written once.

    split_by_slicing: PyTorch cut into split/chunk/unbind pieces by plain slicing (see check)."""

    def __init__(self, torch_, split_by_slicing=False):
        self.is_torch = torch_
        self.m = torch if torch_ else mg
        self.split_by_slicing = split_by_slicing

    def pieces(self, t, how, arg, dim):
        """t.split(arg, dim), t.chunk(arg, dim) or t.unbind(dim)."""
        if not self.split_by_slicing:
            return t.unbind(dim) if how == "unbind" else getattr(t, how)(arg, dim)
        dim = dim % t.ndim
        n = t.shape[dim]
        if how == "unbind":
            return tuple(t[(slice(None),) * dim + (i,)] for i in range(n))
        size = arg if how == "split" else max(1, -(-n // arg))
        return tuple(t[(slice(None),) * dim + (slice(k, k + size),)] for k in range(0, max(n, 1), size))

    def tensor(self, array, requires_grad=False):
        if self.is_torch:
            return torch.tensor(array, requires_grad=requires_grad)
        return mg.tensor(array, requires_grad=requires_grad)

    def gelu(self, x, approximate):
        return TF.gelu(x, approximate=approximate) if self.is_torch else x.gelu(approximate)

    def __getattr__(self, name):  # where, cat, stack, float32, ...
        return getattr(self.m, name)


TORCH, MG, TORCH_SLICING = Lib(True), Lib(False), Lib(True, split_by_slicing=True)


@dataclass
class Step:
    code: str  # what it does, in Python, on values named v0, v1, ...
    fn: object  # fn(lib, values) -> a new value (appended), a tuple of new values, or None
    op: str = ""  # which op it exercises (for the coverage count)

    def __repr__(self):
        return self.code


def tagged(op, code, fn):
    return Step(code, fn, op)


@dataclass
class Program:
    leaves: list  # (array, requires_grad)
    steps: list = field(default_factory=list)

    def __repr__(self):
        lines = [f"v{i} = tensor({a.tolist()!r}, dtype={a.dtype}, requires_grad={rg})" for i, (a, rg) in enumerate(self.leaves)]
        return "\n".join(lines + [s.code for s in self.steps])


# -- running a program -----------------------------------------------------------------------------
@dataclass
class Outcome:
    values: list = None
    grads: list = None
    refused_at: object = None  # a step's index, or "backward"
    error: BaseException = None


def projection(i, shape):
    return np.random.default_rng(1000 + i).standard_normal(shape)


def run(program, lib):
    """Run a program; the values after it, and every leaf's gradient of the projected sum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecations, numpy's invalid-value notes
        vals = [lib.tensor(a, requires_grad=rg) for a, rg in program.leaves]
        for i, step in enumerate(program.steps):
            try:
                out = step.fn(lib, vals)
            except Exception as e:  # noqa: BLE001  (a refusal is an outcome to compare)
                return Outcome(refused_at=i, error=e)
            vals.extend(out if isinstance(out, tuple) else [] if out is None else [out])
        values = [(tuple(v.shape), str(v.dtype).replace("torch.", ""), bool(v.requires_grad), _numpy(v)) for v in vals]
        grads = None
        try:
            terms = [(v * lib.tensor(projection(i, tuple(v.shape)).astype(_numpy(v).dtype))).sum()
                     for i, v in enumerate(vals) if v.requires_grad]
            if terms:
                sum(terms[1:], terms[0]).backward()
        except Exception as e:  # noqa: BLE001
            return Outcome(values=values, refused_at="backward", error=e)
        if terms:
            grads = [None if v.grad is None else (str(v.grad.dtype).replace("torch.", ""), _numpy(v.grad))
                     for v, (_, rg) in zip(vals, program.leaves) if rg]
        return Outcome(values=values, grads=grads)


def _numpy(t):
    return t.detach().numpy().copy() if isinstance(t, torch.Tensor) else t.numpy().copy()


def tolerance(program, outcome):
    """1e-8 when everything is float64; 1e-4 once float32 takes part: a leaf, a value, a constant or
    a cast (PyTorch may compute a float64 result's gradient partly in a float32 operand's dtype)."""
    dtypes = {a.dtype for a, _ in program.leaves} | {np.dtype(d) for _, d, _, _ in outcome.values if d != "bool"}
    float32_code = any("float32" in s.code or ".float()" in s.code for s in program.steps)
    return 1e-4 if float32_code or np.dtype(np.float32) in dtypes else 1e-8


def assert_close(got, ref, tol, what):
    finite = np.abs(ref[np.isfinite(ref)]) if ref.size else np.zeros(0)
    scale = max(1.0, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=tol, atol=tol * scale,
                               equal_nan=True, err_msg=what)


RAW_PYTHON_MESSAGES = ("index out of range", "division by zero", "has no attribute", "unsupported operand",
                       "object is not", "not enough values", "too many values")


def refusal_is_clear(error):
    """An error raised by minigrad's own code, with a message of its own: not a raw numpy
    exception, nor Python's complaint about minigrad's code."""
    frames = traceback.extract_tb(error.__traceback__)
    message = str(error)
    return bool(isinstance(error, (RuntimeError, ValueError, IndexError, TypeError)) and message
                and frames and frames[-1].filename.startswith(MINIGRAD_DIR)
                and not any(m in message for m in RAW_PYTHON_MESSAGES))


# PyTorch refuses to use a piece of split/chunk/unbind once its base changed in place; minigrad
# cuts the piece again from the changed base, as it does for any view. Where that is the only
# difference, minigrad is compared with PyTorch running the program with the pieces sliced instead.
STALE_PIECE = "its base or another view of its base has been modified inplace. This view is the output of a function that returns multiple views"


def check(program):
    """Raise AssertionError when minigrad and PyTorch disagree on the program; else say how it ended."""
    ref, got = run(program, TORCH), run(program, MG)
    where = f"\nprogram:\n{program}\n"
    set_aside = ""
    if ref.refused_at is not None and STALE_PIECE in str(ref.error) and got.refused_at != ref.refused_at:
        ref, set_aside = run(program, TORCH_SLICING), " (a piece of a split used after its base changed)"
    if ref.refused_at is not None:
        assert got.refused_at == ref.refused_at, (
            f"PyTorch refused at step {ref.refused_at} ({type(ref.error).__name__}: {ref.error}); minigrad "
            + (f"refused at {got.refused_at} ({got.error!r})" if got.refused_at is not None else "did not") + where)
        assert refusal_is_clear(got.error), f"minigrad's refusal is not a clear error of its own: {got.error!r}{where}"
        return f"refused ({str(ref.error)[:50]})" + set_aside
    if got.refused_at is not None:
        raise AssertionError(f"minigrad refused at {got.refused_at} what PyTorch accepts: "
                             f"{''.join(traceback.format_exception(got.error))}{where}")
    tol = tolerance(program, ref)
    for i, ((s1, d1, r1, a1), (s2, d2, r2, a2)) in enumerate(zip(got.values, ref.values)):
        assert (s1, d1, r1) == (s2, d2, r2), f"v{i}: minigrad {(s1, d1, r1)} vs PyTorch {(s2, d2, r2)} (shape, dtype, requires_grad){where}"
        assert_close(a1, a2, tol, f"value v{i}{where}")
    if ref.grads is None:
        return "no gradient" + set_aside
    for i, (g1, g2) in enumerate(zip(got.grads, ref.grads)):
        if g1 is None or g2 is None:
            rest = g1 if g2 is None else g2
            assert rest is None or not np.any(rest[1]), f"leaf {i}: one library found a gradient the other did not{where}"
            continue
        assert g1[0] == g2[0], f"leaf {i}: gradient dtype {g1[0]} vs PyTorch's {g2[0]}{where}"
        assert_close(g1[1], g2[1], tol, f"gradient of leaf {i}{where}")
    return "compared" + set_aside


# -- drawing programs ---------------------------------------------------------------------------------
FLOATS = (np.float32, np.float64)


def shapes(min_dims=0, max_dims=3):
    side = st.sampled_from([1, 1, 2, 3, 4])
    return st.lists(side, min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def programs(draw):
    """A program, drawn step by step against PyTorch (see the module doc)."""
    n_leaves = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    leaves = []
    for _ in range(n_leaves):
        shape = draw(shapes())
        dtype = draw(st.sampled_from(FLOATS))
        leaves.append((rng.uniform(-2, 2, shape).astype(dtype), draw(st.integers(0, 7)) > 0))  # most want a gradient
    program = Program(leaves)
    env = [TORCH.tensor(a, requires_grad=rg) for a, rg in leaves]
    n_steps = draw(st.integers(3, MAX_STEPS))
    while len(program.steps) < n_steps:
        kind = draw(st.sampled_from(KINDS))
        step = STEP_KINDS[kind](draw, env, rng)
        if step is None:  # not possible for the values there are: draw another kind
            continue
        program.steps.append(step)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = step.fn(TORCH, env)
        except Exception:  # noqa: BLE001  (PyTorch refuses: the program ends with that step)
            break
        env.extend(out if isinstance(out, tuple) else [] if out is None else [out])
    return program


def pick(draw, env, ok=lambda v: v.dtype.is_floating_point):
    """The index of a value that passes `ok`, the last ones likelier (programs then chain); None if
    there is none."""
    idx = [i for i, v in enumerate(env) if ok(v)]
    if not idx:
        return None
    if draw(st.booleans()):
        return idx[-1 - draw(st.integers(0, min(1, len(idx) - 1)))]
    return draw(st.sampled_from(idx))


def const(rng, shape, dtype, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape).astype(dtype)


def dims_of(draw, ndim, allow_none=True, allow_tuple=True, bad=True):
    """A dim argument: None, an int in range (for a 0-d tensor: 0 or -1), a tuple, or rarely out of range."""
    options = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple and ndim > 1 else [])
    choice = draw(st.sampled_from(options))
    if bad and draw(st.integers(0, 49)) == 0:
        return max(ndim, 1) + draw(st.integers(0, 1))  # out of range: both must refuse
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


# each STEP_KINDS[kind](draw, env, rng) returns a Step or None
UNARY = {
    "neg": ("-{x}", lambda lib, x: -x),
    "exp": ("{x}.clamp(-3, 3).exp()", lambda lib, x: x.clamp(-3, 3).exp()),
    "log": ("({x}.abs() + 0.5).log()", lambda lib, x: (x.abs() + 0.5).log()),
    "sqrt": ("({x}.abs() + 0.5).sqrt()", lambda lib, x: (x.abs() + 0.5).sqrt()),
    "rsqrt": ("({x}.abs() + 0.5).rsqrt()", lambda lib, x: (x.abs() + 0.5).rsqrt()),
    "tanh": ("{x}.tanh()", lambda lib, x: x.tanh()),
    "sigmoid": ("{x}.sigmoid()", lambda lib, x: x.sigmoid()),
    "relu": ("{x}.relu()", lambda lib, x: x.relu()),
    "abs": ("{x}.abs()", lambda lib, x: x.abs()),
    "sin": ("{x}.sin()", lambda lib, x: x.sin()),
    "cos": ("{x}.cos()", lambda lib, x: x.cos()),
    "square": ("{x}.square()", lambda lib, x: x.square()),
    "erf": ("{x}.erf()", lambda lib, x: x.erf()),
    "gelu": ("gelu({x})", lambda lib, x: lib.gelu(x, "none")),
    "gelu_tanh": ("gelu({x}, 'tanh')", lambda lib, x: lib.gelu(x, "tanh")),
    "clamp": ("{x}.clamp(-0.7, 0.9)", lambda lib, x: x.clamp(-0.7, 0.9)),
    "clamp_min": ("{x}.clamp(min=0.2)", lambda lib, x: x.clamp(min=0.2)),
    "pow2": ("{x} ** 2", lambda lib, x: x**2),
    "pow_half": ("({x}.abs() + 0.5) ** 0.5", lambda lib, x: (x.abs() + 0.5) ** 0.5),
    "pow_neg": ("({x}.abs() + 0.5) ** -1", lambda lib, x: (x.abs() + 0.5) ** -1),
    "scalar_ops": ("(1.5 - {x}) * 3 / 2 + 1", lambda lib, x: (1.5 - x) * 3 / 2 + 1),
    "rdiv": ("2.0 / ({x}.abs() + 0.5)", lambda lib, x: 2.0 / (x.abs() + 0.5)),
    "rpow": ("2.0 ** {x}.clamp(-3, 3)", lambda lib, x: 2.0 ** x.clamp(-3, 3)),
    "float": ("{x}.float()", lambda lib, x: x.float()),
    "double": ("{x}.double()", lambda lib, x: x.double()),
    "clone": ("{x}.clone()", lambda lib, x: x.clone()),
    "detach": ("{x}.detach()", lambda lib, x: x.detach()),
    "contiguous": ("{x}.contiguous()", lambda lib, x: x.contiguous()),
    "softmax": None, "log_softmax": None,  # drawn with a dim below
}


def unary(draw, env, rng):
    i = pick(draw, env)
    name = draw(st.sampled_from(sorted(UNARY)))
    if name in ("softmax", "log_softmax"):
        dim = dims_of(draw, env[i].ndim, allow_none=False, allow_tuple=False)
        return tagged(name, f"v{len(env)} = v{i}.{name}({dim})", lambda lib, v: getattr(v[i], name)(dim))
    code, fn = UNARY[name]
    return tagged(name, f"v{len(env)} = " + code.format(x=f"v{i}"), lambda lib, v: fn(lib, v[i]))


BINARY = {
    "add": ("{a} + {b}", lambda lib, a, b: a + b),
    "sub": ("{a} - {b}", lambda lib, a, b: a - b),
    "rsub": ("{b} - {a}", lambda lib, a, b: b - a),
    "mul": ("{a} * {b}", lambda lib, a, b: a * b),
    "div": ("{a} / ({b}.abs() + 0.5)", lambda lib, a, b: a / (b.abs() + 0.5)),
    "maximum": ("{a}.maximum({b})", lambda lib, a, b: a.maximum(b)),
    "minimum": ("{a}.minimum({b})", lambda lib, a, b: a.minimum(b)),
    "pow": ("({a}.abs() + 0.5) ** {b}.clamp(-2, 2)", lambda lib, a, b: (a.abs() + 0.5) ** b.clamp(-2, 2)),
    "where": ("where({a} > {b}, {a}, {b} * 2)", lambda lib, a, b: lib.where(a > b, a, b * 2)),
}


def broadcastable(a, b):
    try:
        np.broadcast_shapes(tuple(a), tuple(b))
        return True
    except ValueError:
        return False


def other_operand(draw, env, rng, shape):
    """A second operand for a value of `shape`: another value that broadcasts with it, a new
    constant of a broadcastable shape (maybe of another dtype, maybe integer), or a Python number.
    Returns (code, fn(lib, values) -> operand)."""
    choice = draw(st.sampled_from(["value", "value", "const", "number", "bad"]))
    if choice == "value":
        j = pick(draw, env, lambda v: broadcastable(v.shape, shape) and v.dtype.is_floating_point)
        if j is not None:
            return f"v{j}", lambda lib, v: v[j]
    if choice == "number":
        c = draw(st.sampled_from([2, -1, 0.5, 1.5, -0.25]))
        return repr(c), lambda lib, v: c
    if choice == "bad" and len(shape) and draw(st.integers(0, 3)) == 0:
        s = tuple(n + 1 for n in shape)  # rarely: shapes that do not broadcast, both must refuse
    else:  # a suffix of the shape, some dims 1
        k = draw(st.integers(0, len(shape)))
        s = tuple(n if draw(st.booleans()) else 1 for n in shape[len(shape) - k:])
        s = (draw(st.sampled_from([(), (), (2,)])) if len(s) < 3 else ()) + s
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float64, np.int64]))
    c = const(rng, s, np.float64).astype(dtype) if dtype != np.int64 else rng.integers(-2, 3, s)
    return f"tensor({c.tolist()!r}, dtype={c.dtype})", lambda lib, v: lib.tensor(c)


def binary(draw, env, rng):
    i = pick(draw, env)
    name = draw(st.sampled_from(sorted(BINARY)))
    bcode, bfn = other_operand(draw, env, rng, tuple(env[i].shape))
    if name in ("maximum", "minimum", "where", "div", "pow") and not bcode.startswith(("v", "tensor")):
        b_num = bfn(None, None)
        b_dtype = np.float32 if isinstance(b_num, float) else np.int64
        bcode, bfn = f"tensor({b_num!r}, dtype={np.dtype(b_dtype)})", lambda lib, v: lib.tensor(np.asarray(b_num, dtype=b_dtype))
    code, fn = BINARY[name]
    return tagged(name, f"v{len(env)} = " + code.format(a=f"v{i}", b=bcode), lambda lib, v: fn(lib, v[i], bfn(lib, v)))


def reduction(draw, env, rng):
    i = pick(draw, env)
    x = env[i]
    name = draw(st.sampled_from(["sum", "mean", "amax", "amin", "max", "min", "max_dim", "min_dim", "logsumexp",
                                 "var", "std"]))
    keepdim = draw(st.booleans())
    if name in ("max", "min"):
        return tagged(name, f"v{len(env)} = v{i}.{name}()", lambda lib, v: getattr(v[i], name)())
    if name in ("max_dim", "min_dim"):
        dim = dims_of(draw, x.ndim, allow_none=False, allow_tuple=False)
        op = name[:3]
        with_indices = draw(st.booleans())
        if with_indices:
            return tagged(name, f"r = v{i}.{op}({dim}, {keepdim}); v{len(env)} = r.values * 2 + r.indices",
                        lambda lib, v: (lambda r: r.values * 2 + r.indices)(getattr(v[i], op)(dim, keepdim)))
        return tagged(name, f"v{len(env)} = v{i}.{op}({dim}, {keepdim}).values",
                    lambda lib, v: getattr(v[i], op)(dim, keepdim).values)
    dim = dims_of(draw, x.ndim, allow_none=name != "logsumexp")
    if name in ("var", "std"):
        dims = range(x.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
        n = int(np.prod([x.shape[d] for d in dims if isinstance(d, int) and -x.ndim <= d < x.ndim])) if x.ndim else 1
        correction = draw(st.sampled_from([0, 1])) if n > 1 else 0
        if name == "std" and _spread_is_rounding(x, dim):
            return None  # std's slope (x - mean) / (n std) at a spread of ~0 is rounding noise in both libraries
        return tagged(name, f"v{len(env)} = v{i}.{name}({dim}, keepdim={keepdim}, correction={correction})",
                    lambda lib, v: getattr(v[i], name)(dim, keepdim=keepdim, correction=correction))
    return tagged(name, f"v{len(env)} = v{i}.{name}({dim}, keepdim={keepdim})", lambda lib, v: getattr(v[i], name)(dim, keepdim=keepdim))


def _spread_is_rounding(x, dim):
    """Whether some spread that std would take over dim is 0 up to float32 rounding (equal values,
    e.g. an expand()ed tensor): there the gradient is (x - mean) / (n std) with both parts noise."""
    values = x.detach().double()
    if values.numel() == 0:
        return False
    try:
        spread = values.std(dim=dim, correction=0) if values.ndim else values.abs() * 0
    except (IndexError, RuntimeError):  # a dim out of range: the program is refused at this step anyway
        return False
    return bool((spread < 1e-4 * max(1.0, float(values.abs().max()))).any())


def _factor_shape(draw, n):
    """A shape of 0-3 dims with n elements, maybe with a -1."""
    if n == 0:  # an empty tensor (a mask that selected nothing)
        return draw(st.sampled_from([(0,), (0, 2), (2, 0, 1), (-1,)]))
    dims = []
    rest = n
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0]))
        dims.append(d)
        rest //= d
    if rest != 1 or not dims:
        dims.append(rest)
    dims = dims if draw(st.integers(0, 5)) or n != 1 else []
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


def shape_op(draw, env, rng):
    i = pick(draw, env, lambda v: True)
    x = env[i]
    nd, shape, out = x.ndim, tuple(x.shape), f"v{len(env)}"
    name = draw(st.sampled_from(["reshape", "view", "permute", "transpose", "T", "mT", "expand", "squeeze",
                                 "squeeze_dim", "unsqueeze", "flatten", "movedim", "repeat", "split", "chunk",
                                 "unbind", "cat", "stack", "tril", "triu"]))
    if name in ("reshape", "view"):
        s = _factor_shape(draw, int(np.prod(shape)))
        return tagged(name, f"{out} = v{i}.{name}({s})", lambda lib, v: getattr(v[i], name)(s))
    if name == "permute":
        perm = tuple(draw(st.permutations(range(nd))))
        return tagged(name, f"{out} = v{i}.permute({perm})", lambda lib, v: v[i].permute(perm))
    if name == "transpose":
        d0, d1 = (draw(st.integers(-max(nd, 1), max(nd, 1) - 1)) for _ in range(2))
        return tagged(name, f"{out} = v{i}.transpose({d0}, {d1})", lambda lib, v: v[i].transpose(d0, d1))
    if name in ("T", "mT"):
        return tagged(name, f"{out} = v{i}.{name}", lambda lib, v: getattr(v[i], name))
    if name == "expand":
        lead = tuple(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=1)))
        s = lead + tuple(draw(st.sampled_from([n, -1] + ([2, 3] if n == 1 else []))) for n in shape)
        return tagged(name, f"{out} = v{i}.expand({s})", lambda lib, v: v[i].expand(s))
    if name == "squeeze":
        return tagged(name, f"{out} = v{i}.squeeze()", lambda lib, v: v[i].squeeze())
    if name == "squeeze_dim":
        d = dims_of(draw, nd, allow_none=False, allow_tuple=False)
        return tagged(name, f"{out} = v{i}.squeeze({d})", lambda lib, v: v[i].squeeze(d))
    if name == "unsqueeze":
        d = draw(st.integers(-nd - 1, nd))
        return tagged(name, f"{out} = v{i}.unsqueeze({d})", lambda lib, v: v[i].unsqueeze(d))
    if name == "flatten":
        a, b = (draw(st.integers(-max(nd, 1), max(nd, 1) - 1)) for _ in range(2))
        return tagged(name, f"{out} = v{i}.flatten({a}, {b})", lambda lib, v: v[i].flatten(a, b))
    if name == "movedim":
        a, b = (draw(st.integers(-max(nd, 1), max(nd, 1) - 1)) for _ in range(2))
        return tagged(name, f"{out} = v{i}.movedim({a}, {b})", lambda lib, v: v[i].movedim(a, b))
    if name == "repeat":
        reps = tuple(draw(st.lists(st.sampled_from([1, 2]), min_size=nd, max_size=nd + 1)))
        return tagged(name, f"{out} = v{i}.repeat({reps})", lambda lib, v: v[i].repeat(reps))
    if (nd < 2 and name in ("tril", "triu", "split", "chunk", "unbind") or nd < 1 and name == "cat") and draw(st.integers(0, 7)):
        return None  # mostly where the op applies (PyTorch refuses the rest)
    if name in ("split", "chunk", "unbind"):
        d = dims_of(draw, nd, allow_none=False, allow_tuple=False)
        k = draw(st.integers(0, 3))
        arg = draw(st.integers(1, 3))
        text = {"split": f"split({arg}, {d})", "chunk": f"chunk({arg}, {d})", "unbind": f"unbind({d})"}[name]
        return tagged(name, f"{out} = v{i}.{text}[{k} % len(...)]",
                    lambda lib, v: (lambda parts: parts[k % len(parts)] if parts else None)(lib.pieces(v[i], name, arg, d)))
    if name in ("cat", "stack"):
        d = draw(st.integers(-nd - (name == "stack"), nd - 1 + (name == "stack"))) if nd or name == "stack" else 0
        j = pick(draw, env, lambda v: tuple(v.shape) == shape) if draw(st.booleans()) else i
        return tagged(name, f"{out} = {name}([v{i}, v{j}], {d})", lambda lib, v: getattr(lib, name)([v[i], v[j]], d))
    k = draw(st.integers(-1, 1))
    return tagged(name, f"{out} = v{i}.{name}({k})", lambda lib, v: getattr(v[i], name)(k))


def _basic_index(draw, shape):
    """An index of ints, slices, None and at most one ... for a tensor of `shape`."""
    items, d = [], 0
    for _ in range(draw(st.integers(1, max(1, len(shape))))):
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis"]))
        if kind == "ellipsis" and Ellipsis not in items:
            items.append(Ellipsis)
            d = len(shape)  # what follows indexes the last dims: keep it to slices and None
        elif kind == "none":
            items.append(None)
        elif d < len(shape) and kind == "int" and Ellipsis not in items and shape[d]:
            items.append(draw(st.integers(-shape[d], shape[d] - 1)))
            d += 1
        elif d < len(shape) or Ellipsis in items:
            n = shape[d] if d < len(shape) else 1
            start, stop = draw(st.integers(-n, n)), draw(st.sampled_from([None, n, -1, 1]))
            items.append(slice(start, stop, draw(st.sampled_from([None, 2]))))
            d += 1
    return tuple(items)


def index_op(draw, env, rng):
    i = pick(draw, env)
    x = env[i]
    shape, nd, out = tuple(x.shape), x.ndim, f"v{len(env)}"
    name = draw(st.sampled_from(["basic", "basic", "int_tensor", "mask", "gather", "index_select"]))
    if name == "basic":
        idx = _basic_index(draw, shape)
        return tagged(name, f"{out} = v{i}[{idx!r}]", lambda lib, v: v[i][idx])
    if nd == 0 or 0 in shape:
        return None
    d = draw(st.integers(0, nd - 1))
    if name == "int_tensor":
        ids = rng.integers(-shape[0], shape[0], draw(st.integers(1, 4)))
        return tagged(name, f"{out} = v{i}[tensor({ids.tolist()})]", lambda lib, v: v[i][lib.tensor(ids)])
    if name == "mask":
        return tagged(name, f"{out} = v{i}[v{i} > 0]", lambda lib, v: v[i][v[i] > 0])
    if name == "gather":
        size = tuple(draw(st.integers(1, n)) if k != d else draw(st.integers(1, 3)) for k, n in enumerate(shape))
        ids = rng.integers(0, shape[d], size)
        return tagged(name, f"{out} = v{i}.gather({d}, tensor({ids.tolist()}))", lambda lib, v: v[i].gather(d, lib.tensor(ids)))
    ids = rng.integers(0, shape[d], draw(st.integers(1, 4)))
    return tagged(name, f"{out} = v{i}.index_select({d}, tensor({ids.tolist()}))", lambda lib, v: v[i].index_select(d, lib.tensor(ids)))


def matmul(draw, env, rng):
    i = pick(draw, env, lambda v: v.dtype.is_floating_point and 1 <= v.ndim <= 3)
    if i is None:
        return None
    x = env[i]
    k = x.shape[-1]
    s = draw(st.sampled_from([(k,), (k, draw(st.integers(1, 3))), (draw(st.sampled_from([1, 2])), k, draw(st.integers(1, 3)))]))
    j = pick(draw, env, lambda v: tuple(v.shape) == s and v.dtype.is_floating_point) if draw(st.booleans()) else None
    if j is not None:
        return tagged("matmul", f"v{len(env)} = v{i} @ v{j}", lambda lib, v: v[i] @ v[j])
    dtype = str(x.dtype).replace("torch.", "")
    if not draw(st.integers(0, 7)) and 0 not in tuple(x.shape) + s:  # rarely a mix, refused (PyTorch's batched
        dtype = "float64"  # matmul lets an empty operand through with either dtype: not drawn)
    c = const(rng, s, dtype)
    return tagged("matmul", f"v{len(env)} = v{i} @ tensor(shape={s}, dtype={dtype})", lambda lib, v: v[i] @ lib.tensor(c))


def _order_dependent(target, other):
    """Whether PyTorch's verdict on an in-place op on target that reads other rests on more than the
    elements involved; such programs are not drawn. Two cases: they share memory but not as two
    dense tensors (PyTorch neither refuses nor copies the input first, so its result depends on its
    loop order; minigrad reads the input first), or they are the very same elements in the same
    order but differ in the strides of size-1 dims (PyTorch's verdict then follows how each view
    was made: a (1, 2, 1) tensor added to its own .T is refused, x[None, 0] added to x is not;
    minigrad allows both)."""
    a, b = target.detach().numpy(), other.detach().numpy()
    if not np.shares_memory(a, b):
        return False
    if not (_dense(a) and _dense(b)):
        return True
    same_elements = a.shape == b.shape and a.__array_interface__["data"] == b.__array_interface__["data"] and all(
        s == t for s, t, n in zip(a.strides, b.strides, a.shape) if n != 1)
    return same_elements and a.strides != b.strides


def _dense(a):
    step = a.itemsize
    for stride, n in sorted((s, n) for s, n in zip(a.strides, a.shape) if n != 1):
        if stride != step:
            return False
        step *= n
    return True


def _is_leaf(v):
    """Whether v is a leaf that requires grad (False for None)."""
    if v is None:
        return False
    try:
        return v.grad_fn is None and v.requires_grad
    except RuntimeError:  # PyTorch will not say, for a piece of a split whose base changed
        return False


VIEWS = {  # how an in-place step may first cut a view of its target
    "itself": lambda draw, shape: ("", lambda t: t),
    "slice": lambda draw, shape: (lambda idx: (f"[{idx!r}]", lambda t: t[idx]))(_basic_index(draw, shape)),
    "transpose": lambda draw, shape: (".T", lambda t: t.T),
    "reshape": lambda draw, shape: (".reshape(-1)", lambda t: t.reshape(-1)),
    "unsqueeze": lambda draw, shape: (".unsqueeze(0)", lambda t: t.unsqueeze(0)),
    "expand": lambda draw, shape: (".expand(2, *s)", lambda t: t.expand(2, *t.shape)),
    "detach": lambda draw, shape: (".detach()", lambda t: t.detach()),
}


def inplace(draw, env, rng):
    """An in-place op on a value (an intermediate, rarely a leaf) or on a view of one."""
    leaves_too = draw(st.integers(0, 7)) == 0  # rarely a leaf or a view of one: PyTorch refuses those
    i = pick(draw, env, lambda v: v.dtype.is_floating_point and (leaves_too or not (_is_leaf(v) or _is_leaf(v._base))))
    if i is None:
        return None
    view_name = draw(st.sampled_from(sorted(VIEWS)))
    vcode, vfn = VIEWS[view_name](draw, tuple(env[i].shape))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            view_shape = tuple(vfn(env[i].detach()).shape)
            written = vfn(env[i])  # PyTorch may refuse even to cut it (a stale piece of a split)
    except Exception:  # noqa: BLE001  (no such view of this value: draw another step)
        return None
    op = draw(st.sampled_from(["add_", "sub_", "mul_", "div_", "iadd", "clamp_", "zero_", "fill_", "copy_",
                               "masked_fill_", "setitem", "setitem_tensor"]))
    target = f"v{len(env)}"
    head = f"{target} = v{i}{vcode}; "
    if op in ("add_", "sub_", "mul_", "div_", "iadd", "copy_"):
        ocode, ofn = other_operand(draw, env, rng, view_shape)
        if ocode.startswith("v") and op != "div_" and _order_dependent(written, ofn(TORCH, env)):
            return None
        is_number = not ocode.startswith(("v", "tensor"))
        if op == "div_" and not is_number:  # a divisor away from 0 (the numbers drawn are)
            ocode, ofn = f"({ocode}.abs() + 0.5)", (lambda f: lambda lib, v: f(lib, v).abs() + 0.5)(ofn)
        if op == "copy_" and is_number:  # copy_ takes a tensor
            n = ofn(None, None)
            ocode, ofn = f"tensor({n!r})", lambda lib, v: lib.tensor(np.asarray(n, dtype=np.float64))
        if op == "iadd":
            def fn(lib, v):
                t = vfn(v[i])
                t += ofn(lib, v)
                return t
            return tagged(f"{op} on {view_name}", head + f"{target} += {ocode}", fn)
        return tagged(f"{op} on {view_name}", head + f"{target}.{op}({ocode})", lambda lib, v: (lambda t: (getattr(t, op)(ofn(lib, v)), t)[1])(vfn(v[i])))
    if op == "clamp_":
        return tagged(f"{op} on {view_name}", head + f"{target}.clamp_(-0.5, 0.8)", lambda lib, v: vfn(v[i]).clamp_(-0.5, 0.8))
    if op == "zero_":
        return tagged(f"{op} on {view_name}", head + f"{target}.zero_()", lambda lib, v: vfn(v[i]).zero_())
    if op == "fill_":
        return tagged(f"{op} on {view_name}", head + f"{target}.fill_(0.25)", lambda lib, v: vfn(v[i]).fill_(0.25))
    if op == "masked_fill_":
        return tagged(f"{op} on {view_name}", head + f"{target}.masked_fill_({target} > 0.3, -1.5)",
                    lambda lib, v: (lambda t: t.masked_fill_(t > 0.3, -1.5))(vfn(v[i])))
    idx = _basic_index(draw, view_shape) if view_shape else (Ellipsis,)
    if op == "setitem":
        def fn(lib, v):
            t = vfn(v[i])
            t[idx] = 0.75
            return t
        return tagged(f"{op} on {view_name}", head + f"{target}[{idx!r}] = 0.75", fn)
    j = pick(draw, env)  # a tensor value that broadcasts into the indexed part, if any
    def fn(lib, v):
        t = vfn(v[i])
        t[idx] = v[j].sum() * 0.5
        return t
    return tagged(f"{op} on {view_name}", head + f"{target}[{idx!r}] = v{j}.sum() * 0.5", fn)


STEP_KINDS = {"unary": unary, "binary": binary, "reduction": reduction, "shape": shape_op, "index": index_op,
              "matmul": matmul, "inplace": inplace}
KINDS = ["unary"] * 3 + ["binary"] * 3 + ["reduction"] * 2 + ["shape"] * 3 + ["index"] * 2 + ["matmul"] + ["inplace"] * 3
