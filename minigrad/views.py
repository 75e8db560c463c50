"""Views and in-place ops: how a tensor changes in place without any gradient going wrong.

A *view* shares memory with the tensor it was cut from, its *base*: reshape and view (when no
copy is needed), permute, transpose, T, mT, expand, squeeze, unsqueeze, flatten, and indexing
with ints, slices, None and ... (split, chunk and unbind index that way). Indexing with tensors
or masks copies, as in numpy and PyTorch. detach() shares memory too, but is cut from the graph.

Three rules, PyTorch's:
1. A base and all its views share one *version counter* (`_version`, a one-element list), and
   every in-place op bumps it. A node that saves a tensor for backward saves its version too,
   and backward checks it (Function.saved_tensors): a saved value changed through any alias is an
   error, never a wrong gradient.
2. An in-place op writes into the tensor's own memory, so the base and every view see the change.
3. When a gradient is wanted, the in-place op is recorded as its out-of-place twin applied to a
   snapshot of the old value (`a.mul_(w)` records old_a * w), and the tensor takes the new node
   as its grad_fn: it is *rebased*. Through a view it is the base that is rebased, onto a
   CopySlices node (the base with the view's elements replaced), whether or not the base needed
   a gradient before; then every view of the base is cut again from the new base, so that
   whichever alias the next op reads, its gradient flows through the write.

Ordinary ops never come here: only view ops (make_view) and in-place ops (the rest) do.
"""
from __future__ import annotations

import operator
import weakref

from numpy import broadcast_shapes, integer

from .autograd import enable_grad, is_grad_enabled, no_grad
from .backend import to_device, xp_of
from .ops._util import const
from .ops.elementwise import Where
from .ops.shape import CopySlices, GetItem, SetItem, overlaps, replay
from .promotion import DEFAULT_FLOAT, can_cast, result_type


# -- views ---------------------------------------------------------------------------------
def make_view(op, x, *args, one_of_several=False):
    """op(x, *args) as a view of x: it shares x's memory and version counter and knows its base.

    `_view` holds (base, chain, made_in_grad_mode, one_of_several): the base is never itself a
    view (a view of a view is cut from the same base); the chain of (op, args) cuts this view out
    of it; one_of_several marks the pieces of split, chunk and unbind (and views of them), which
    PyTorch does not let an in-place op change in the graph."""
    y = op.apply(x, *args)
    if y.data.size and not (x.data.flags.c_contiguous or xp_of(x.data).may_share_memory(x.data, y.data)):
        return y  # reshaping a strided tensor can take a copy: then it is no view
    y._version = x._version
    grad_mode = is_grad_enabled()
    if x._view is None:
        base, chain = x, ()
    else:  # a view of a view made under no_grad, or of a piece of a split, is one too
        base, chain, parent_grad_mode, parent_one_of_several = x._view
        grad_mode = grad_mode and parent_grad_mode
        one_of_several = one_of_several or parent_one_of_several
    y._view = (base, chain + ((op, args),), grad_mode, one_of_several)
    # an in-place op on a parameter (a leaf that requires grad) or on its views is refused in grad
    # mode, so they never need re-deriving: parameters viewed every step keep no list
    if grad_mode and not (base.requires_grad and base.grad_fn is None):
        _remember(base, y)
    return y


def _remember(base, view):
    """Keep a weak reference to a view, to re-derive it when the base is rebased. Dead entries are
    dropped each time the list's length reaches a power of two, so a long-lived base stays short."""
    refs = base._views
    if refs is None:
        base._views = refs = []
    elif len(refs) >= 8 and not len(refs) & (len(refs) - 1):
        refs[:] = [r for r in refs if r() is not None]
    refs.append(weakref.ref(view))


def _rederive_views(base):
    """After `base` took a new place in the graph, give each of its views the matching place:
    the same chain of view ops applied to the new base."""
    if not base._views:
        return
    live = []
    with enable_grad():
        for ref in base._views:
            view = ref()
            if view is not None:
                live.append(ref)
                _take_place(view, replay(base, view._view[1]))
    base._views = live


def _take_place(t, new):
    """t becomes `new` in the graph: its grad_fn, and the retain_grad() that followed the old one."""
    old_node, node = t.grad_fn, new.grad_fn
    t.grad_fn = node
    t.requires_grad = new.requires_grad
    if node is not None:
        node._out_ref = weakref.ref(t)
        if old_node is not None and old_node._retain is not None and old_node._retain() is t:
            old_node._retain, node._retain = None, old_node._retain


# -- in-place ops --------------------------------------------------------------------------
def _is_tensor(x):
    """Whether x is a Tensor (or a Parameter: so not `isinstance(x, type(t))`). Duck-typed because
    this module sits below tensor.py."""
    return hasattr(x, "grad_fn")


def inplace(t, op, compute, other=None, raw=None):
    """Change t in place to compute(t), following the three rules above; returns t.

    compute(old) builds the new value with ordinary (recorded) ops; raw(array, other), when given,
    does the same on arrays, for when no gradient is wanted."""
    view = t._view
    base = None if view is None else view[0]
    other_is_tensor = _is_tensor(other)
    wants_grad = is_grad_enabled() and (
        t.requires_grad or (other_is_tensor and other.requires_grad) or (base is not None and base.requires_grad)
    )
    if not wants_grad:  # no graph: write into the memory, bump the counter shared with every alias
        if raw is not None:
            raw(t.data, other.data if other_is_tensor else other)
        else:
            with no_grad():
                t.data[...] = compute(t).data
        t._version[0] += 1
        return t
    _check_recordable(t, op, view)
    # the old value as a copy: the write is about to overwrite t's memory, and compute's backward
    # may need it (d(old * w)/dw = old)
    new = compute(_snapshot(t, copy=True))
    if new.dtype != t.dtype:  # computed in the promoted dtype (f32.add_(f64) adds in float64)
        new = new.type(t.dtype)
    if view is None:
        t.data[...] = new.data
        _rebase(t, new)
        _rederive_views(t)
    else:  # the write goes through the view into the base, and the base is rebased
        _rebase(base, CopySlices.apply(_snapshot(base, copy=False), new, view[1]))
        _rederive_views(base)
    return t


def _snapshot(t, copy):
    """t's current value and place in the graph as a separate tensor with its own counter: what
    the recorded op reads as the old value."""
    return t._make(t.data.copy() if copy else t.data, t.requires_grad, t.grad_fn, version=[t._version[0]])


def _rebase(t, new):
    """t, whose memory already holds new's value, takes new's place in the graph."""
    t._version[0] += 1
    _take_place(t, new)
    node = new.grad_fn
    if node is not None and node._out is not None:  # it saved its output, which is t's memory now
        node._out = t.data
        node._out_version = (t._version, t._version[0])


def _check_recordable(t, op, view):
    if view is None:
        if t.requires_grad and t.grad_fn is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad (shape {tuple(t.shape)}) is being used in an in-place "
                "operation. Wrap parameter updates in `with minigrad.no_grad():`, or use an out-of-place op"
            )
        return
    base, _, made_in_grad_mode, one_of_several = view
    if base.requires_grad and base.grad_fn is None:
        raise RuntimeError(
            f"{op}: a view of a leaf tensor that requires grad is being used in an in-place operation "
            f"(the leaf has shape {tuple(base.shape)}). Wrap parameter updates in `with minigrad.no_grad():`, "
            "or change a clone() of it"
        )
    if not made_in_grad_mode:
        raise RuntimeError(
            f"{op}: A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
            "This is ambiguous, so it is forbidden, as in PyTorch: make the view and change it both inside "
            "the no_grad block (the change is not recorded) or both outside (it is)"
        )
    if one_of_several:
        raise RuntimeError(
            f"{op}: this view is one of the outputs of split, chunk or unbind (or a view of one), and is being "
            "modified inplace. As in PyTorch, such views cannot be changed in place in the graph: use an "
            "out-of-place op, or change the tensor that was split"
        )


def _check_no_overlap(t, op):
    if overlaps(t.data):
        raise RuntimeError(
            f"{op}: unsupported operation: more than one element of the written-to tensor refers to a single "
            f"memory location (an expand()ed tensor of shape {tuple(t.shape)}). Please clone() the tensor "
            "before performing the operation."
        )


def _check_no_partial_overlap(t, other, op):
    """PyTorch refuses an in-place op that reads memory it writes, unless it reads the very elements
    it writes, in the same layout (h.mul_(h) is fine; h[1:].add_(h[:-1]) is not). Like PyTorch it
    only judges tensors whose elements lie densely (others: it cannot tell cheaply, and allows)."""
    if not _is_tensor(other):
        return
    a, b = t.data, other.data
    if a.size == 0 or b.size == 0 or not (_dense(a) and _dense(b)):
        return
    (lo_a, hi_a), (lo_b, hi_b) = _span(a), _span(b)
    same = (lo_a, hi_a, a.shape) == (lo_b, hi_b, b.shape) and _strides(a) == _strides(b)
    if not same and lo_a < hi_b and lo_b < hi_a:
        raise RuntimeError(
            f"{op}: unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
            "single memory location (they are views of the same memory). Please clone() the tensor before "
            "performing the operation."
        )


def _dense(a):
    """Whether the elements fill their memory span without gaps or repeats, in some dim order."""
    step = a.itemsize
    for stride, n in sorted((s, n) for s, n in zip(a.strides, a.shape) if n != 1):
        if stride != step:
            return False
        step *= n
    return True


def _strides(a):
    """The strides that matter: those of dims longer than 1 (a dim of size 1 is never stepped along)."""
    return tuple(s for s, n in zip(a.strides, a.shape) if n != 1)


def _span(a):
    """The byte addresses [start, end) of a dense array's elements."""
    interface = getattr(a, "__array_interface__", None) or a.__cuda_array_interface__
    start = interface["data"][0]
    return start, start + a.size * a.itemsize


def _check_broadcast(t, shape, op):
    """An in-place op's other operand must broadcast to t's own shape."""
    if tuple(shape) == tuple(t.shape):
        return
    try:
        joint = broadcast_shapes(t.shape, shape)
    except ValueError:
        joint = None
    if joint != tuple(t.shape):
        raise RuntimeError(
            f"{op}: an operand of shape {tuple(shape)} does not broadcast to the shape {tuple(t.shape)} of the "
            "tensor written in place (an in-place op cannot change its shape)"
        )


_ARITHMETIC = {  # name -> (the out-of-place op, the same on arrays in place)
    "add_": (operator.add, operator.iadd), "sub_": (operator.sub, operator.isub),
    "mul_": (operator.mul, operator.imul), "div_": (operator.truediv, operator.itruediv),
}


def arithmetic(t, op, other):
    """t.add_(other), sub_, mul_, div_: computed in the promoted dtype, written in t's dtype.
    A result of a higher kind than t (a float into an int tensor) is refused, as in PyTorch."""
    dtype = result_type(t, other)
    if op == "div_" and dtype.kind in "biu":  # true division
        dtype = DEFAULT_FLOAT
    if not can_cast(dtype, t.dtype):
        raise RuntimeError(f"{op}: result type {dtype} can't be cast to the desired output type {t.dtype}")
    if hasattr(other, "shape"):
        _check_broadcast(t, other.shape, op)
    _check_no_overlap(t, op)
    _check_no_partial_overlap(t, other, op)
    fn, raw = _ARITHMETIC[op]
    return inplace(t, op, lambda old: fn(old, other), other, raw)


def clamp(t, lo, hi):
    bounds = [b for b in (lo, hi) if b is not None]
    dtype = result_type(t, *bounds)
    if not can_cast(dtype, t.dtype):
        raise RuntimeError(f"clamp_: result type {dtype} can't be cast to the desired output type {t.dtype}")
    _check_no_overlap(t, "clamp_")
    return inplace(t, "clamp_", lambda old: old.clamp(lo, hi), raw=lambda a, _: xp_of(a).clip(a, lo, hi, out=a))


def assign(t, op, value):
    """Every element of t becomes value (a number, an array or a tensor, broadcast to t's shape and
    cast to its dtype, as fill_ and copy_ do): the gradient goes to value, none to the old content."""
    if _is_tensor(value):
        _check_broadcast(t, value.shape, op)
        if op in ("copy_", "__setitem__"):
            _check_no_partial_overlap(t, value, op)
        if value.dtype != t.dtype:  # between floats a Cast node: the gradient returns in value's dtype
            value = value.type(t.dtype)
        value = value.to(t.device)
    elif hasattr(value, "shape"):  # an array: a constant
        _check_broadcast(t, value.shape, op)
        value = const(to_device(value, t.device))
    if op in ("copy_", "__setitem__"):  # fill_ may write one element twice; a copy may not
        _check_no_overlap(t, op)
    everywhere = const(xp_of(t.data).ones((), dtype=bool))
    return inplace(t, op, lambda old: Where.apply(everywhere, value, old), value, raw=_assign_raw)


def _assign_raw(a, value):
    a[...] = value


def masked_fill(t, mask, value):
    _check_broadcast(t, mask.shape, "masked_fill_")
    return inplace(t, "masked_fill_", lambda old: old.masked_fill(mask, value),
                   raw=lambda a, _: xp_of(a).copyto(a, value, where=mask.data))


def setitem(t, index, value):
    """t[index] = value. With ints, slices, None and ... it writes the view t[index], as PyTorch
    does (t[index].copy_(value)): only those elements change, even where t is an expand()ed view
    whose elements share memory. With tensors or masks it records SetItem (a copy of t, changed)."""
    basic = basic_index(index, t.ndim)
    if basic is not None:
        return assign(make_view(GetItem, t, basic), "__setitem__", value)
    _check_no_partial_overlap(t, value, "__setitem__")
    try:
        return inplace(t, "__setitem__", lambda old: SetItem.apply(old, value, index), value,
                       raw=lambda a, v: operator.setitem(a, index, v))
    except ValueError as e:
        if "broadcast" not in str(e):
            raise
        raise ValueError(
            f"__setitem__: a value of shape {tuple(getattr(value, 'shape', ()))} cannot be written into "
            f"x[{index}] of a tensor of shape {tuple(t.shape)}: {e}"
        ) from None


def basic_index(index, ndim):
    """The index when it only holds ints, slices, None and ... (basic indexing: numpy returns a
    view), else None. An index of ints alone gets a trailing `...`, so that x[1, 2] is a 0-d view
    rather than a number."""
    items = index if isinstance(index, tuple) else (index,)  # as a tuple: x[None] is x[(None,)]
    if all(_is_int(i) for i in items):
        return items + (Ellipsis,) if len(items) >= ndim else items
    if all(i is None or i is Ellipsis or isinstance(i, slice) or _is_int(i) for i in items):
        return items
    return None


def _is_int(i):
    return isinstance(i, (int, integer)) and not isinstance(i, bool)
