"""einsum: sums of products over named indices, with numpy's subscripts (implicit output,
'...', repeated indices, broadcasting) and its interleaved form einsum(a, [0, 1], b, [1, 2]).

    y[out] = sum over the letters not in out of  prod_k x_k[s_k]

The derivative in one operand is another einsum: the output gradient times the other operands,
summed back to that operand's letters:

    dL/dx_k[s_k] = einsum(out, s_1, .., s_{k-1}, s_{k+1}, .. -> s_k)(dL/dy, x_1, ..)

Two cases need help, both with constant operands: a letter repeated within s_k ('ii->i', a
diagonal) gets a fresh letter and an identity matrix joining the two, so the gradient lands on
the diagonal; a letter that only s_k has (summed away in the forward pass) gets a vector of
ones, so the gradient is copied along it. A dim of size 1 that broadcast against a larger one
is summed back down. Since the backward is itself an einsum, it differentiates again.
"""
from __future__ import annotations

import string

from ..autograd import Function
from ..backend import xp_of
from ._util import const

LETTERS = string.ascii_letters


def _from_sublists(args):
    """einsum(a, [0, 1], b, [1, 2], [0, 2]) -> ('ab,bc->ac', [a, b])"""
    out = args[-1] if len(args) % 2 else None
    pairs = args[:-1] if len(args) % 2 else args
    ops, subs = list(pairs[0::2]), list(pairs[1::2])

    def word(sub):
        parts = []
        for s in sub:
            if s is Ellipsis:
                parts.append("...")
            elif isinstance(s, int) and 0 <= s < len(LETTERS):
                parts.append(LETTERS[s])
            else:
                raise ValueError(f"einsum: a sublist holds ints in [0, {len(LETTERS)}) or Ellipsis, got {s!r}")
        return "".join(parts)

    eq = ",".join(word(s) for s in subs) + ("" if out is None else "->" + word(out))
    return eq, ops


def parse(equation, shapes):
    """(input subscripts, output subscripts, size of each letter) with every '...' spelled out in
    letters no one uses, and the implicit output made explicit, as numpy reads the equation."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} names {len(inputs)} operands, but {len(shapes)} were given")
    for s in inputs + ([out] if arrow else []):
        bad = set(s.replace("...", "")) - set(LETTERS)
        if bad or s.count(".") not in (0, 3):
            raise ValueError(f"einsum: invalid subscripts {s!r} in {equation!r}: use letters a-z, A-Z and at most one '...'")
    unused = [c for c in LETTERS if c not in eq]
    n_ell = 0
    for s, shape in zip(inputs, shapes):
        named = len(s.replace("...", ""))
        if ("..." in s and named > len(shape)) or ("..." not in s and named != len(shape)):
            raise ValueError(f"einsum: operand of shape {tuple(shape)} does not fit its subscripts {s!r}")
        if "..." in s:
            n_ell = max(n_ell, len(shape) - named)
    ell = "".join(unused[:n_ell])
    spelled = []
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            k = len(shape) - len(s.replace("...", ""))
            s = s.replace("...", ell[n_ell - k:])
        spelled.append(s)
    if arrow:
        if "..." in out:
            out = out.replace("...", ell)
        elif ell:
            raise ValueError(f"einsum: {equation!r}: the operands have '...' dims but the output does not say where "
                             "they go; add '...' to the output")
        for c in out:
            if out.count(c) > 1 or c not in "".join(spelled):
                raise ValueError(f"einsum: output subscript {c!r} in {equation!r} appears twice or in no operand")
    else:  # implicit: the letters used exactly once, in alphabetical order, after the '...' dims
        counts = {}
        for c in lhs.replace("...", "").replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    sizes = {}
    for s, shape in zip(spelled, shapes):
        for c, n in zip(s, shape):
            if c in sizes and n != sizes[c] and 1 not in (n, sizes[c]):
                raise ValueError(f"einsum: index {c!r} has size {sizes[c]} in one place and {n} in another "
                                 f"(in {equation!r} with shapes {[tuple(x) for x in shapes]})")
            sizes[c] = max(n, sizes.get(c, 1))
    return spelled, out, sizes


class Einsum(Function):
    """y = einsum(equation, x_1, ..., x_n); see the module docstring for its derivative."""

    def forward(ctx, equation, *xs):
        inputs, out, sizes = parse(equation, [x.shape for x in xs])
        ctx.inputs_subs, ctx.out, ctx.sizes = inputs, out, sizes
        ctx.shapes = [x.shape for x in xs]
        ctx.save_for_backward(*xs)
        eq = ",".join(inputs) + "->" + out
        ctx.equation = eq
        # numpy's own loops beat BLAS below a few thousand elements (the path search costs ~30 us)
        optimize = len(xs) > 2 or sum(x.size for x in xs) > 4096
        return xp_of(xs[0]).einsum(eq, *xs, optimize=optimize)

    def backward(ctx, gy):
        xs = ctx.saved_tensors
        grads = [None]
        for k, need in enumerate(ctx.needs_input_grad[1:]):
            grads.append(_operand_grad(ctx, gy, xs, k) if need else None)
        return tuple(grads)


def _operand_grad(ctx, gy, xs, k):
    xp = xp_of(gy.data)
    sub, shape, sizes = ctx.inputs_subs[k], ctx.shapes[k], ctx.sizes
    others = [s for j, s in enumerate(ctx.inputs_subs) if j != k]
    operands = [gy] + [x for j, x in enumerate(xs) if j != k]
    subs = [ctx.out] + others
    unused = iter(c for c in LETTERS if c not in ctx.equation)
    target, seen = "", set()
    for c, n in zip(sub, shape):
        if n == 1 and sizes[c] > 1:  # broadcast in the forward pass: summed back, kept as size 1
            continue
        if c in seen:  # a repeated letter: a diagonal; an identity matrix puts the gradient on it
            fresh = next(unused)
            operands.append(const(xp.eye(n, dtype=gy.dtype)))
            subs.append(c + fresh)
            target += fresh
            continue
        seen.add(c)
        target += c
    present = "".join(subs)
    for c in dict.fromkeys(target):
        if c not in present:  # only this operand had it: the gradient is the same all along it
            operands.append(const(xp.ones(sizes[c], dtype=gy.dtype)))
            subs.append(c)
    g = Einsum.apply(",".join(subs) + "->" + target, *operands)
    return g.reshape(shape)


def einsum(*args):
    """einsum(equation, *operands), einsum(equation, [operands]) or einsum(a, [0, 1], b, [1, 2], [0, 2])"""
    if not args:
        raise TypeError("einsum: expected an equation and operands")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _from_sublists(args)
    if not operands:
        raise ValueError(f"einsum: {equation!r} needs at least one operand")
    return Einsum.apply(equation, *operands)
