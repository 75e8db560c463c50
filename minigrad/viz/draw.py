"""draw_graph: a traced graph as a graphviz.Digraph, styled so that gradients can be followed.

Boxes are tensors, ellipses are ops; edges run the way the forward pass did. A gradient flows
back along every solid edge. A dashed grey edge ("no grad") is an input that cannot carry one:
an integer index, a bool mask, a tensor that does not require grad (detached, or made by
argmax or a comparison). A purple edge is a broadcast: backward sums the gradient back down to
the input's smaller shape. A tensor used by several ops (`a + a`) has a double border: the
gradients from its uses add up. Leaves that hold a `.grad` have a green border.
"""
from __future__ import annotations

import re

from ..tensor import Tensor
from . import render as _render
from .labels import fmt_shape, nonzero_rows, summarize
from .trace import Graph, OpNode, TensorNode, trace

STYLE = {
    "leaf": dict(shape="box", style="rounded,filled", fillcolor="#cfe2ff"),
    "output": dict(shape="box", style="rounded,filled", fillcolor="#f1f3f5"),
    "input": dict(shape="box", style="rounded,filled,dashed", fillcolor="#f8f9fa", color="#868e96", fontcolor="#495057"),
    "op": dict(shape="ellipse", style="filled", fillcolor="#fff3bf"),
    "root": dict(fillcolor="#ffd8a8", penwidth="2"),
    "has_grad": dict(color="#2b8a3e", penwidth="2"),
    "accumulates": dict(peripheries="2", color="#e8590c"),
    "no_grad_edge": dict(style="dashed", color="#adb5bd", fontcolor="#868e96", arrowhead="empty", label="no grad"),
    "broadcast_edge": dict(color="#7048e8", fontcolor="#7048e8", penwidth="1.5"),
    "highlight": dict(color="#e03131", penwidth="2.5"),
    "hidden": dict(shape="note", style="filled", fillcolor="#fff5f5", color="#e03131"),
    "unreached": dict(shape="box", style="rounded,dashed,filled", fillcolor="#fff5f5", color="#e03131"),
    "cluster": dict(style="rounded,dashed", color="#748ffc", fontcolor="#4263eb"),
}
OP_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "MatMul": "@", "Pow": "**"}
DEFAULT_MAX_NODES = 600


def op_label(op: OpNode, backward_order: bool) -> str:
    name = op.name
    head = f"{name} {OP_SYMBOLS[name]}" if name in OP_SYMBOLS else name
    if backward_order and op.step is not None:
        head = f"[{op.step}] {head}"
    return "\\n".join(_escape(line) for line in [head] + op.details)


def tensor_label(t: TensorNode, show_values: bool, show_grads: bool, show_shapes: bool) -> str:
    lines = []
    if t.name:
        lines.append(t.name)
    elif t.role == "input":
        lines.append(t.kind or "constant")
    elif t.role == "leaf":
        lines.append("leaf")
    if show_shapes:
        lines.append(f"{fmt_shape(t.shape)} {t.dtype}" if t.dtype else fmt_shape(t.shape))
    if t.role == "input":
        lines.append("no gradient")
    data = t.tensor.data if t.tensor is not None else t.array
    if show_values and data is not None:
        lines.append("data " + summarize(data))
    grad = t.tensor.grad if t.tensor is not None else None
    if show_grads:
        if grad is not None:
            lines.append("grad " + summarize(grad.data))
            rows = nonzero_rows(grad.data)
            if rows:
                lines.append(rows)
        elif t.is_root and t.shape == () and t.role == "output":
            lines.append("grad 1 (d out / d out)")
    elif grad is not None and t.role == "leaf":
        lines.append(".grad set")
    if t.uses > 1:
        lines.append(f"used {t.uses}x: grads add up")
    return "\\n".join(_escape(line) for line in lines) or " "


def _escape(text: str) -> str:
    # a backslash would start a DOT escape sequence inside the label
    return text.replace("\\", "\\\\")


def _highlight(graph: Graph, targets) -> tuple[set, set, list]:
    """Nodes and edges on a gradient path from the root to each target, and the targets that
    no gradient path reaches (they are not in the graph at all)."""
    if targets is None:
        return set(), set(), []
    if isinstance(targets, (Tensor, str)):
        targets = [targets]
    uses: dict = {}
    for e in graph.edges:
        if e.differentiable:
            uses.setdefault(e.src, []).append(e)
    nodes, edges, unreached = set(), set(), []
    for target in targets:
        start = graph.find(target)
        if start is None:
            unreached.append(target)
            continue
        stack = [start]
        while stack:
            t = stack.pop()
            if t in nodes:
                continue
            nodes.add(t)
            for e in uses.get(t, ()):
                edges.add(e)
                nodes.add(e.op)
                stack.append(e.op.output)
    return nodes, edges, unreached


def _cluster_name(path: str) -> str:
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", path)


def _graph_class():
    """graphviz.Digraph, drawn in notebooks by whichever renderer minigrad found."""
    global _ComputationGraph
    if _ComputationGraph is None:
        try:
            import graphviz
        except ImportError:
            raise ImportError(
                "draw_graph needs the graphviz Python package: pip install graphviz "
                "(or pip install minigrad[viz]); explain() works without it"
            ) from None

        class ComputationGraph(graphviz.Digraph):
            """A graphviz.Digraph of a computation; `.trace` holds what it was drawn from."""

            trace = None

            def _repr_mimebundle_(self, include=None, exclude=None, **_):
                return _render.notebook_bundle(self.source, include, exclude)

            def save(self, path, format="svg", fallback_to_dot=True):
                return _render.save(self, path, format=format, fallback_to_dot=fallback_to_dot)

        _ComputationGraph = ComputationGraph
    return _ComputationGraph


_ComputationGraph = None


def draw_graph(
    root,
    *,
    show_values: bool = False,
    show_grads: bool = False,
    show_shapes: bool = True,
    rankdir: str = "LR",
    group_modules: bool = True,
    max_nodes: int = DEFAULT_MAX_NODES,
    highlight=None,
    backward_order: bool = False,
    params=None,
    title: str | None = None,
):
    """The computation graph that produced `root` (a tensor, a list of tensors, or a Graph).

    Backward frees what each op kept, arguments and intermediate shapes included. To draw the
    gradients on a full picture, trace first and draw after backward:
        graph = viz.trace(loss); loss.backward(); viz.draw_graph(graph, show_grads=True)

    show_values / show_grads   add a summary of each tensor's data / .grad (when it still exists)
    show_shapes                shape and dtype on every tensor
    rankdir                    "LR" (left to right), "TB", "RL" or "BT"
    group_modules              put each module's nodes in a box named by its path
    params                     names for parameters: a module, module.named_parameters(), or a
                               dict name -> Tensor (otherwise a tensor's own `.name` is used)
    max_nodes                  draw at most this many nodes, those nearest the root; the rest
                               become one note that says how many were left out
    highlight                  a tensor, a name, or a list of them: the gradient path from the
                               root to each is drawn in red; one no gradient reaches is shown apart
    backward_order             number the ops in the order backward runs them
    Returns a graphviz.Digraph (shown inline in Jupyter; `viz.save(g, path)` writes svg/png/pdf).
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    if isinstance(root, Graph):
        if params is not None:
            raise ValueError("draw_graph: a traced Graph already has its names; pass params= to viz.trace instead")
        graph = root
    else:
        graph = trace(root, params)
    hl_nodes, hl_edges, unreached = _highlight(graph, highlight)

    kept = graph.order if max_nodes is None else graph.order[:max_nodes]
    kept_set = set(kept)
    hidden = len(graph.order) - len(kept)

    g = _graph_class()(name="minigrad", graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11"})
    g.trace = graph
    g.attr("node", fontname="Helvetica", fontsize="10")
    g.attr("edge", fontname="Helvetica", fontsize="9")
    notes = [title] if title else []

    def node_attrs(node) -> dict:
        if isinstance(node, OpNode):
            attrs = dict(STYLE["op"], label=op_label(node, backward_order), tooltip=node.fn.name())
        else:
            attrs = dict(STYLE[node.role], label=tensor_label(node, show_values, show_grads, show_shapes))
            if node.is_root:
                attrs.update(STYLE["root"])
            if node.role == "leaf" and node.tensor is not None and node.tensor.grad is not None:
                attrs.update(STYLE["has_grad"])
            if node.uses > 1:
                attrs.update(STYLE["accumulates"])
        if node in hl_nodes:
            attrs.update(STYLE["highlight"])
        return attrs

    clusters: dict = {}  # module path -> [(key, attrs)]
    for node in kept:
        module = node.module if group_modules else None
        clusters.setdefault(module or "", []).append((node.key, node_attrs(node)))
    for key, attrs in clusters.pop("", []):
        g.node(key, **attrs)
    _add_clusters(g, clusters)

    if hidden:
        g.node("hidden", label=f"... {hidden} more nodes not drawn\\n(draw_graph(max_nodes={len(graph.order)}) shows all)", **STYLE["hidden"])
        notes.append(f"{hidden} of {len(graph.order)} nodes not drawn (max_nodes={max_nodes})")
    hidden_links = set()

    def link(src_key, dst_key, attrs):
        if src_key not in kept_keys:
            if ("hidden", dst_key) not in hidden_links:
                hidden_links.add(("hidden", dst_key))
                g.edge("hidden", dst_key, style="dotted")
            return
        g.edge(src_key, dst_key, **attrs)

    kept_keys = {n.key for n in kept}
    for op in graph.ops:
        if op not in kept_set:
            continue
        for e in op.inputs:
            attrs = {}
            if not e.differentiable:
                attrs.update(STYLE["no_grad_edge"])
            elif e.reduced_from is not None:
                attrs.update(STYLE["broadcast_edge"])
                attrs["label"] = f"grad summed\\n{fmt_shape(e.reduced_from)} -> {fmt_shape(e.src.shape)}"
            if e in hl_edges:
                attrs.update(STYLE["highlight"])
            link(e.src.key, op.key, attrs)
        out_attrs = dict(STYLE["highlight"]) if op in hl_nodes and op.output in hl_nodes else {}
        link(op.key, op.output.key, out_attrs)

    for i, target in enumerate(unreached):
        label = target if isinstance(target, str) else (graph_name(target, params) or f"tensor {i}")
        shape = "" if isinstance(target, str) else f"\\n{fmt_shape(tuple(target.shape))} {target.dtype}"
        g.node(f"unreached{i}", label=f"{_escape(label)}{shape}\\nno gradient path to the output", **STYLE["unreached"])
    if unreached:
        notes.append("red dashed boxes: tensors the gradient cannot reach from here")
    if graph.freed and show_values and any(t.role == "output" and t.tensor is None for t in graph.tensors):
        notes.append(
            "backward already freed this graph: the values of dropped intermediates are missing "
            "(trace before backward: g = viz.trace(loss); loss.backward(); viz.draw_graph(g), "
            "or build the graph inside `with viz.keep_values():`)"
        )
    if backward_order:
        notes.append("[n]: the order in which backward runs the ops")
    if notes:
        g.attr(label="\\n".join(_escape(n) for n in notes), labelloc="b")
    return g


def graph_name(t: Tensor, params=None) -> str | None:
    from .trace import parameter_names

    return parameter_names(params).get(id(t), t.name)


def _add_clusters(g, clusters: dict) -> None:
    """Nested boxes: the nodes of `blocks.0.attn` sit inside `blocks.0`, inside `blocks`."""
    import graphviz

    paths = set()
    for path in clusters:
        parts = path.split(".")
        for i in range(1, len(parts) + 1):
            paths.add(".".join(parts[:i]))

    def build(path: str):
        sub = graphviz.Digraph(name=_cluster_name(path))
        sub.attr(label=path, **STYLE["cluster"])
        for key, attrs in clusters.get(path, []):
            sub.node(key, **attrs)
        prefix = path + "."
        for child in sorted(p for p in paths if p.startswith(prefix) and "." not in p[len(prefix):]):
            sub.subgraph(build(child))
        return sub

    for top in sorted(p for p in paths if "." not in p):
        g.subgraph(build(top))
