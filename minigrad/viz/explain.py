"""explain(loss): the backward pass as text, one local gradient rule at a time.

Backward is the chain rule applied op by op, last op first: each op receives the gradient of
the loss with respect to its output and turns it into gradients for its inputs with its own
local rule (the derivative in its docstring). This prints those steps in the order the engine
runs them, with the shapes that flow, where broadcasting sums a gradient down, where a tensor
used twice adds up its gradients, and which inputs get none.
"""
from __future__ import annotations

from .labels import fmt_shape as _fmt_shape
from .trace import Graph, OpNode, TensorNode, trace


def local_rule(op: OpNode) -> str:
    """The first paragraph of the op's docstring: its formula and derivative, on one line."""
    doc = (type(op.fn).__doc__ or "").strip()
    first = doc.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in first.splitlines() if line.strip()) or "(no rule documented)"


def _who(t: TensorNode) -> str:
    if t.name:
        return t.name
    if t.producer is not None:
        return f"the output of [{t.producer.step}] {t.producer.name}"
    return "a leaf" if t.role == "leaf" else (t.kind or "an input")


def explain(root, params=None) -> str:
    """The backward pass of `root` (a tensor, or a Graph from viz.trace) as numbered text steps
    in the order the engine runs them."""
    graph = root if isinstance(root, Graph) else trace(root, params)
    roots = ", ".join(f"{_who(r)} {_fmt_shape(r.shape)}" for r in graph.roots)
    steps = sorted((op for op in graph.ops if op.step is not None), key=lambda op: op.step)
    if not steps:
        return f"{roots}: made by no op that records a gradient, so backward has nothing to do."
    lines = [
        f"Backward from {roots}: the chain rule, one op at a time, in the order the engine runs them.",
        "Each op gets d(out)/d(its output) and applies its local rule to pass the gradient to its inputs.",
        "",
    ]
    for op in steps:
        out = op.output
        lines.append(f"[{op.step}] {op.name}: {local_rule(op)}")
        what = f" ({out.name})" if out.name else ""
        lines.append(f"    receives the gradient with respect to its output{what}, shape {_fmt_shape(out.shape)}")
        for e in op.inputs:
            src = e.src
            where = f"{_who(src)} {_fmt_shape(src.shape)}"
            if not e.differentiable:
                lines.append(f"    input {e.arg}: {where} ({src.kind or 'constant'}): no gradient, the path stops here")
                continue
            text = f"    input {e.arg}: sends a gradient {_fmt_shape(src.shape)} to {where}"
            if e.reduced_from is not None:
                text += f", summed from {_fmt_shape(e.reduced_from)} over the broadcast dims"
            if src.role == "leaf":
                text += ", which accumulates it into .grad"
            if src.uses > 1:
                text += f" (used {src.uses}x: the {src.uses} gradients add up)"
            lines.append(text)
    leaves = [t for t in graph.tensors if t.role == "leaf"]
    if leaves:
        lines.append("")
        lines.append("Leaves that receive a gradient: " + ", ".join(f"{_who(t)} {_fmt_shape(t.shape)}" for t in leaves))
    return "\n".join(lines)
