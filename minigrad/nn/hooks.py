"""Module hooks with PyTorch's semantics: functions called around a module's forward and backward.

    handle = model.fc.register_forward_hook(lambda module, args, output: print(output.shape))
    handle.remove()

forward pre-hook   hook(module, args) -> None or new args            before forward
forward hook       hook(module, args, output) -> None or new output  after forward
full backward pre-hook  hook(module, grad_output) -> None or new grad_output
full backward hook      hook(module, grad_input, grad_output) -> None or new grad_input

(with_kwargs=True: the forward hooks also get the keyword arguments, and a pre-hook returns
(args, kwargs).) grad_input holds one gradient per positional argument of forward (None for
those that are not tensors requiring grad), grad_output one per output tensor.

How the backward hooks see all of a call's gradients at once: the tensor arguments are joined
into one flat tensor and the module computes on slices of it; the gradient that reaches that
flat tensor, summed over everything the module did, is every grad_input side by side, and a
tensor hook on it can read and replace them together (the outputs likewise, for grad_output).
This happens only for modules that have backward hooks.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict

from .. import autograd
from ..tensor import Tensor, cat

_ids = itertools.count()


class RemovableHandle:
    """What register_*_hook returns: `.remove()` takes the hook off (also as a context manager)."""

    def __init__(self, table):
        self.table, self.id = table, next(_ids)

    def remove(self):
        self.table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class ModuleHooks:
    """The hooks of one module, and the call that runs them around its forward."""

    def __init__(self):
        self.forward_pre = OrderedDict()  # id -> (hook, with_kwargs)
        self.forward = OrderedDict()  # id -> (hook, with_kwargs)
        self.backward_pre = OrderedDict()  # id -> hook
        self.backward = OrderedDict()  # id -> hook

    def add(self, table, entry, prepend=False):
        handle = RemovableHandle(table)
        table[handle.id] = entry
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def call(self, module, args, kwargs):
        for hook, with_kwargs in list(self.forward_pre.values()):
            if with_kwargs:
                result = hook(module, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook with with_kwargs=True must return None or (args, kwargs), "
                                           f"got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(module, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward = None
        if (self.backward or self.backward_pre) and autograd.is_grad_enabled():
            backward = _BackwardCall(module, self)
            args = backward.wrap_inputs(args)
        output = module.forward(*args, **kwargs)
        for hook, with_kwargs in list(self.forward.values()):
            result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
            if result is not None:
                output = result
        if backward is not None:
            output = backward.wrap_outputs(output)
        return output


class _Bundle:
    """Tensors joined into one flat tensor, handed back as reshaped slices of it."""

    def __init__(self, tensors, what):
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) > 1:
            raise NotImplementedError(
                f"full backward hooks: the module's {what} tensors have different dtypes {sorted(map(str, dtypes))}; "
                "hooks need them to share one"
            )
        self.shapes = [tuple(t.shape) for t in tensors]
        self.flat = cat([t.reshape(-1) for t in tensors])
        self.pieces = []
        start = 0
        for shape in self.shapes:
            n = 1
            for s in shape:
                n *= s
            self.pieces.append((start, start + n))
            start += n

    def slices(self):
        return [self.flat[a:b].reshape(shape) for (a, b), shape in zip(self.pieces, self.shapes)]

    def split(self, g):
        return [g[a:b].reshape(shape) for (a, b), shape in zip(self.pieces, self.shapes)]

    def join(self, grads, like):
        """Gradients back into one flat tensor (a None becomes zeros)."""
        parts = [(gi if gi is not None else Tensor._make(like.xp.zeros(s, dtype=like.dtype), False, None)).reshape(-1)
                 for gi, s in zip(grads, self.shapes)]
        return cat(parts)


class _BackwardCall:
    """One forward call of a module with backward hooks: where its grad_output and grad_input go."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.n_args = 0
        self.positions = []  # which positional arguments take part (tensors that require grad)
        self.inputs = None
        self.grad_output = None

    def wrap_inputs(self, args):
        self.n_args = len(args)
        self.positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        # as in PyTorch, a tensor argument that takes no gradient shows as zeros (a number as None)
        self.constants = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor) and not a.requires_grad]
        if not self.positions:
            return args
        self.inputs = _Bundle([args[i] for i in self.positions], "input")
        self.inputs.flat.register_hook(self._on_grad_input)
        args = list(args)
        for i, piece in zip(self.positions, self.inputs.slices()):
            args[i] = piece
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outs = [output] if single else list(output) if isinstance(output, (tuple, list)) else None
        if outs is None:
            raise RuntimeError(f"full backward hooks: {type(self.module).__name__}.forward returned a "
                               f"{type(output).__name__}; hooks need a Tensor or a tuple of Tensors")
        positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return output
        self.out_positions, self.n_outputs = positions, len(outs)
        self.outputs = _Bundle([outs[i] for i in positions], "output")
        self.outputs.flat.register_hook(self._on_grad_output)
        for i, piece in zip(positions, self.outputs.slices()):
            outs[i] = piece
        return outs[0] if single else type(output)(outs)

    def _on_grad_output(self, g):
        grads = [None] * self.n_outputs
        for i, gi in zip(self.out_positions, self.outputs.split(g)):
            grads[i] = gi
        grad_output = tuple(grads)
        changed = False
        for hook in list(self.hooks.backward_pre.values()):
            result = hook(self.module, grad_output)
            if result is not None:
                grad_output, changed = _check_replacement(result, len(grad_output), "backward pre-hook"), True
        self.grad_output = grad_output
        if self.inputs is None:  # nothing to differentiate in: the hooks run now, with grad_input None
            self._run_backward_hooks((None,) * self.n_args)
        if changed:
            return self.outputs.join([grad_output[i] for i in self.out_positions], g)
        return None

    def _on_grad_input(self, g):
        grads = [None] * self.n_args
        for i, gi in zip(self.positions, self.inputs.split(g)):
            grads[i] = gi
        for i, a in self.constants:
            grads[i] = Tensor._make(a.xp.zeros(a.shape, dtype=a.dtype), False, None)
        new = self._run_backward_hooks(tuple(grads))
        if new is None:
            return None
        return self.inputs.join([new[i] for i in self.positions], g)

    def _run_backward_hooks(self, grad_input):
        changed = False
        for hook in list(self.hooks.backward.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                grad_input, changed = _check_replacement(result, len(grad_input), "backward hook"), True
        return grad_input if changed else None


def _check_replacement(result, n, what):
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(result) != n:
        raise RuntimeError(f"full {what} returned {len(result)} gradients, expected {n} (one per "
                           f"{'positional argument' if what == 'backward hook' else 'output'})")
    return result
