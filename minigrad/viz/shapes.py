"""The shape of every tensor in a traced graph, including intermediates that no longer exist.

An op keeps a weak reference to its output; once the Python variable that held it is gone,
only the shapes the ops kept remain. They are read from, in order:
  1. the live tensor, or `node._output_meta` (shape, dtype) when the engine records it;
  2. the output array an op saved for backward (softmax, exp, tanh ...);
  3. what the ops that consume a tensor know about their input (`shapes`, `in_shape`, masks);
  4. the op's shape rule applied to its input shapes (broadcasting, matmul, reductions ...).
A shape that none of these gives stays None and is drawn as "?".
"""
from __future__ import annotations

import numpy as np

# ops whose output has the shape of their first input
SAME_SHAPE = {
    "Neg", "Exp", "Log", "Sqrt", "Abs", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "Gelu", "Erf",
    "Clamp", "Cast", "ToDevice", "Softmax", "LogSoftmax", "Tril", "Triu", "LayerNorm", "SetItem",
}
# binary elementwise ops: their inputs are broadcast to the output's shape, so backward sums
BROADCASTING_OPS = {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Where", "Expand"}
REDUCTIONS = {"Sum", "Mean", "Max", "Min", "LogSumExp"}


def _shape(a):
    return tuple(a.shape) if hasattr(a, "shape") else None


def _reduced(in_shape, dims, keepdim):
    return tuple((1 if i in dims else s) for i, s in enumerate(in_shape) if keepdim or i not in dims)


def _matmul(x, y):
    if not x or not y:
        return None
    x2 = (1,) + x if len(x) == 1 else x
    y2 = y + (1,) if len(y) == 1 else y
    try:
        batch = np.broadcast_shapes(x2[:-2], y2[:-2])
    except ValueError:
        return None
    out = tuple(batch) + (x2[-2], y2[-1])
    if len(x) == 1:
        out = out[:-2] + out[-1:]
    if len(y) == 1:
        out = out[:-1]
    return out


def output_shape_rule(fn, ins):
    """The output shape of op `fn` from its input shapes `ins` (one per argument), or None."""
    name = fn.name()
    attrs = vars(fn)
    first = ins[0] if ins else None
    try:
        if name in SAME_SHAPE:
            return first
        if name in BROADCASTING_OPS and name != "Expand":
            shapes = [s for s in ins if s is not None]
            if name == "Where" and "cond" in attrs:
                shapes.append(_shape(attrs["cond"]))
            return tuple(np.broadcast_shapes(*shapes)) if shapes else None
        if name == "MatMul":
            return _matmul(ins[0], ins[1])
        if name == "Linear":
            if ins[0] is not None and ins[1] is not None:
                return ins[0][:-1] + (ins[1][0],)
            return None
        if name == "Permute" and first is not None:
            return tuple(first[d] for d in attrs["dims"])
        if name == "ScaledDotProductAttention" and ins[0] is not None and ins[2] is not None:
            return ins[0][:-1] + ins[2][-1:]  # (..., L, E) queries, (..., S, Ev) values
        if name in REDUCTIONS and "in_shape" in attrs:
            return _reduced(attrs["in_shape"], set(attrs["dims"]), attrs.get("keepdim", False))
        if name == "GetItem" and "in_shape" in attrs:
            return tuple(np.broadcast_to(np.empty((), np.int8), attrs["in_shape"])[attrs["index"]].shape)
        if name == "Gather" and "index" in attrs:
            return _shape(attrs["index"])
        if name == "IndexSelect" and "in_shape" in attrs:
            s = list(attrs["in_shape"])
            s[attrs["dim"]] = int(attrs["index"].shape[0])
            return tuple(s)
        if name == "Embedding" and "idx" in attrs:
            return _shape(attrs["idx"]) + (attrs["shape"][1],)
        if name == "CrossEntropy" and attrs.get("reduction") in ("mean", "sum"):
            return ()
        if name == "Cat" and first is not None and "sizes" in attrs:
            s = list(first)
            s[attrs["dim"]] = sum(attrs["sizes"])
            return tuple(s)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def input_shapes_known_to(fn, infos) -> dict:
    """{argument position: shape} that the op `fn` itself knows about its inputs."""
    name = fn.name()
    attrs = vars(fn)
    known = {i: x.shape for i, x in enumerate(infos) if x is not None and x.shape is not None}
    if 0 not in known:
        first = None
        if "in_shape" in attrs:
            first = attrs["in_shape"]
        elif name == "Embedding" and "shape" in attrs:
            first = attrs["shape"]
        elif name == "CrossEntropy" and "x_shape" in attrs:
            first = attrs["x_shape"]
        elif name == "LayerNorm" and "xhat" in attrs:
            first = _shape(attrs["xhat"])
        elif name in ("Relu", "Clamp") and "mask" in attrs:
            first = _shape(attrs["mask"])
        elif name == "Abs" and "sign" in attrs:
            first = _shape(attrs["sign"])
        if first is not None:
            known[0] = tuple(first)
    return known


def _own_output(fn):
    meta = getattr(fn, "_output_meta", None)  # (shape, dtype), when the engine records it
    if meta is not None:
        return tuple(meta[0]), str(meta[1])
    out = fn._out
    if out is not None and out is not True and hasattr(out, "shape"):
        return tuple(out.shape), str(out.dtype)
    return None, None


def fill_shapes(graph) -> None:
    """Give every tensor node of `graph` the shape and dtype that can be worked out."""
    ops = graph.ops_inputs_first()
    for op in graph.ops:
        out = op.output
        if out.shape is None:
            shape, dtype = _own_output(op.fn)
            out.shape, out.dtype = shape, out.dtype or dtype
        op.known_inputs = input_shapes_known_to(op.fn, op.arg_info)

    for _ in range(len(ops) + 1):  # consumers tell producers, rules tell consumers, until settled
        changed = False
        for op in graph.ops:
            for e in op.inputs:
                s = op.known_inputs.get(e.arg)
                if e.src.shape is None and s is not None:
                    e.src.shape, changed = tuple(s), True
            out = op.output.shape
            if out is not None and op.inputs and op.inputs[0].arg == 0 and op.inputs[0].src.shape is None:
                src = op.inputs[0].src
                if op.name in SAME_SHAPE:
                    src.shape, changed = out, True
                elif op.name == "Permute" and "dims" in vars(op.fn):  # undo the permutation
                    shape = [0] * len(out)
                    for i, d in enumerate(vars(op.fn)["dims"]):
                        shape[d] = out[i]
                    src.shape, changed = tuple(shape), True
        for op in ops:
            if op.output.shape is None:
                ins = [None] * len(op.fn.next_functions)
                for i, s in op.known_inputs.items():
                    if i < len(ins):
                        ins[i] = tuple(s)
                for e in op.inputs:
                    if e.src.shape is not None:
                        ins[e.arg] = e.src.shape
                shape = output_shape_rule(op.fn, ins)
                if shape is not None:
                    op.output.shape, changed = tuple(int(s) for s in shape), True
        if not changed:
            break

    for op in ops:  # dtype: an op's output keeps its first floating input's dtype
        if op.output.dtype is None and op.name != "Cast":
            for e in op.inputs:
                if e.differentiable and e.src.dtype is not None:
                    op.output.dtype = e.src.dtype
                    break
