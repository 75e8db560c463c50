"""Read the graph that autograd recorded into plain objects that `draw_graph` and `explain` share.

A recorded graph is a web of `Function` nodes: each knows the nodes that made its inputs
(`next_functions`, aligned with the op's positional arguments) and, through a weak reference,
its output tensor. Inputs that take no gradient (an integer index, a bool mask, a detached
tensor, a Python number) appear there as None; what they were is recovered from what the op
kept (see `args.py`). The result is a bipartite graph that reads like the forward pass:

    TensorNode --Edge--> OpNode --> TensorNode (its output) --Edge--> OpNode ...

Nothing here changes the graph or keeps it alive longer than the caller does.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..autograd import Function
from ..tensor import Tensor
from . import args as _args
from . import labels as _labels
from . import modules as _modules
from . import shapes as _shapes


@dataclass(eq=False)
class TensorNode:
    """A tensor in the picture.

    role: "leaf"   a tensor that requires grad and was made by no op (a parameter, an input
                   you asked gradients for): backward accumulates into its `.grad`
          "output" the result of an op
          "input"  an input that takes no gradient: kind says "index", "mask" or "constant"
                   (a constant is a float tensor that does not require grad, e.g. detached)
    """

    key: str
    role: str
    name: str | None = None
    shape: tuple | None = None
    dtype: str | None = None
    tensor: Tensor | None = None  # the live tensor, when there is one (values, gradients)
    array: object = None  # a raw array (an index, a mask) when that is all there is
    kind: str | None = None
    producer: OpNode | None = None
    module: str | None = None
    uses: int = 0  # differentiable edges leaving it; more than one: gradients add up here
    is_root: bool = False

    @property
    def label_name(self) -> str:
        return self.name or self.key


@dataclass(eq=False)
class Edge:
    """An input of an op. `reduced_from` is set when broadcasting copied `src` up to a larger
    shape in the forward pass, so backward sums the gradient from that shape back to src.shape."""

    src: TensorNode
    op: OpNode
    arg: int
    differentiable: bool
    reduced_from: tuple | None = None


@dataclass(eq=False)
class OpNode:
    key: str
    fn: Function
    output: TensorNode
    inputs: list = field(default_factory=list)
    step: int | None = None  # position in the order backward visits the ops (1 = first)
    module: str | None = None
    owns_params: bool = False
    arg_info: list = field(default_factory=list)  # args.ArgInfo per positional argument
    details: list = field(default_factory=list)  # its arguments as label text (labels.op_details)
    freed: bool = False  # backward already released what it kept
    known_inputs: dict = field(default_factory=dict)  # argument position -> shape the op kept

    @property
    def name(self) -> str:
        return self.fn.name()


@dataclass
class Graph:
    roots: list  # TensorNode
    tensors: list  # TensorNode, in the order they were found from the roots (nearest first)
    ops: list  # OpNode, likewise
    order: list  # all nodes (tensors and ops) in discovery order: what max_nodes keeps first

    @property
    def freed(self) -> bool:
        """True when backward has already released the ops' saved state (arguments, shapes)."""
        return any(op.freed for op in self.ops)

    @property
    def edges(self):
        return [e for op in self.ops for e in op.inputs]

    def ops_inputs_first(self) -> list:
        """The ops in an order where every op comes after the ops that made its inputs."""
        done, out = set(), []
        for start in self.ops:
            stack = [(start, False)]
            while stack:
                op, expanded = stack.pop()
                if expanded:
                    out.append(op)
                    continue
                if op in done:
                    continue
                done.add(op)
                stack.append((op, True))
                for e in op.inputs:
                    if e.src.producer is not None and e.src.producer not in done:
                        stack.append((e.src.producer, False))
        return out

    def find(self, target) -> TensorNode | None:
        """The node of a tensor (by identity, or through the op that made it) or of a name."""
        if isinstance(target, str):
            return next((t for t in self.tensors if t.name == target), None)
        if isinstance(target, Tensor):
            for t in self.tensors:
                if t.tensor is target:
                    return t
            if target.grad_fn is not None:
                return next((op.output for op in self.ops if op.fn is target.grad_fn), None)
        return None


def parameter_names(params) -> dict:
    """id(tensor) -> name, from a module, `module.named_parameters()`, or a dict name -> tensor."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters") and callable(params.named_parameters):
        params = params.named_parameters()
    items = params.items() if isinstance(params, dict) else params
    names = {}
    for item in items:
        try:
            name, t = item
        except (TypeError, ValueError):
            raise TypeError(
                "draw_graph: params= takes a module, module.named_parameters(), or a dict "
                f"name -> Tensor; got an item {item!r}"
            ) from None
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph: params[{name!r}] is a {type(t).__name__}, expected a Tensor")
        names[id(t)] = str(name)
    return names


def module_of(name: str | None) -> str | None:
    """'blocks.0.attn.q_proj.weight' -> 'blocks.0.attn.q_proj'; a name without dots has none."""
    if not name or "." not in name:
        return None
    return name.rsplit(".", 1)[0]


def trace(roots, params=None) -> Graph:
    """Walk the recorded graph backwards from `roots` (a tensor or a list of tensors)."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"draw_graph: expected a Tensor (or a list of them) to draw, got {type(r).__name__}")
    names = parameter_names(params)
    counter = {"t": 0, "op": 0}
    order: list = []
    tensors: list = []
    ops: list = []
    leaf_nodes: dict = {}  # id(tensor) -> TensorNode
    op_nodes: dict = {}  # Function -> OpNode
    queue: deque = deque()

    def new_tensor(role, **kw) -> TensorNode:
        node = TensorNode(key=f"t{counter['t']}", role=role, **kw)
        counter["t"] += 1
        tensors.append(node)
        order.append(node)
        return node

    def describe(t: Tensor, role: str, **kw) -> TensorNode:
        return new_tensor(
            role, name=names.get(id(t), t.name), shape=tuple(t.shape), dtype=str(t.dtype), tensor=t, **kw
        )

    def leaf(t: Tensor) -> TensorNode:
        node = leaf_nodes.get(id(t))
        if node is None:
            role = "leaf" if t.requires_grad else "input"
            node = describe(t, role, kind=None if t.requires_grad else _args.kind_of(t.dtype))
            leaf_nodes[id(t)] = node
        return node

    def op_for(fn: Function, out: Tensor | None = None) -> OpNode:
        node = op_nodes.get(fn)
        if node is not None:
            return node
        if out is None and fn._out_ref is not None:
            out = fn._out_ref()
        if out is not None:
            out_node = describe(out, "output")
        else:
            out_node = new_tensor("output")
        node = OpNode(
            key=f"op{counter['op']}", fn=fn, output=out_node,
            details=_labels.op_details(fn), freed=bool(getattr(fn, "_freed", False)),
        )
        counter["op"] += 1
        out_node.producer = node
        op_nodes[fn] = node
        ops.append(node)
        order.append(node)
        queue.append(node)
        return node

    root_nodes = []
    for r in roots:
        node = op_for(r.grad_fn, r).output if r.grad_fn is not None else leaf(r)
        node.is_root = True
        root_nodes.append(node)

    while queue:  # breadth first: what is near the roots is found (and kept by max_nodes) first
        op = queue.popleft()
        infos = op.arg_info = _args.argument_info(op.fn)
        for i, nxt in enumerate(op.fn.next_functions):
            if isinstance(nxt, Function):
                src = op_for(nxt).output
            elif isinstance(nxt, Tensor):
                src = leaf(nxt)
            else:
                info = infos[i]
                if info is None or not info.is_array:
                    continue  # a Python number, a dim, a flag: shown in the op's label instead
                if info.tensor is not None:
                    src = leaf(info.tensor)
                else:
                    src = new_tensor(
                        "input", name=info.name, shape=info.shape, dtype=info.dtype,
                        array=info.array, kind=info.kind,
                    )
            edge = Edge(src=src, op=op, arg=i, differentiable=nxt is not None)
            if edge.differentiable:
                src.uses += 1
            op.inputs.append(edge)

    graph = Graph(roots=root_nodes, tensors=tensors, ops=ops, order=order)
    _shapes.fill_shapes(graph)
    _mark_broadcasts(graph)
    _assign_modules(graph)
    _number_backward_steps(graph, roots)
    return graph


def _mark_broadcasts(graph: Graph) -> None:
    """Edges whose gradient backward sums back down to a smaller shape (broadcasting)."""
    for op in graph.ops:
        if op.name not in _shapes.BROADCASTING_OPS:
            continue
        out = op.output.shape
        for e in op.inputs:
            if e.differentiable and out is not None and e.src.shape is not None and tuple(e.src.shape) != tuple(out):
                e.reduced_from = tuple(out)


def _common_prefix(paths):
    parts = [p.split(".") if p else [] for p in paths]
    prefix = []
    for group in zip(*parts):
        if all(g == group[0] for g in group):
            prefix.append(group[0])
        else:
            break
    return ".".join(prefix)


def _assign_modules(graph: Graph) -> None:
    """Place each op in the module that made it.

    Ops made inside `viz.record_modules(model)` know their module. For the others, without a record of which module's forward made which node, this reads it off the
    parameters: an op that uses parameters belongs to their (common) module; any other op
    belongs to the common module of its inputs, where leaving an op that used a module's own
    parameters steps out to the parent (the GELU after `mlp.c_fc` belongs to `mlp`).
    """
    for t in graph.tensors:
        if t.role == "leaf":
            t.module = module_of(t.name)
    recorded = {op: _modules.recorded_module(op.fn) for op in graph.ops}
    any_recorded = any(m is not None for m in recorded.values())
    for op in graph.ops_inputs_first():
        if any_recorded:  # made inside viz.record_modules (known exactly), or outside the model
            op.module = op.output.module = recorded[op] or ""
            continue
        own = [e.src.module for e in op.inputs if e.src.role == "leaf" and e.src.module is not None]
        if own:
            op.module, op.owns_params = _common_prefix(own), True
        else:
            inherited = []
            for e in op.inputs:
                if not e.differentiable:
                    continue
                src = e.src
                if src.producer is not None:
                    m = src.producer.module or ""
                    if src.producer.owns_params:
                        m = m.rsplit(".", 1)[0] if "." in m else ""
                    inherited.append(m)
                else:
                    inherited.append(src.module or "")
            op.module = _common_prefix(inherited) if inherited else ""
        op.output.module = op.module


def _number_backward_steps(graph: Graph, roots) -> None:
    """Number the ops in the order the engine's backward visits them.

    The same walk as autograd.run_backward: count how many uses each node has among the
    reachable nodes, start from the roots, and run a node once all its uses have sent their
    gradient (a stack of the ready ones, last in first out).
    """
    start = [r.grad_fn for r in roots if r.grad_fn is not None]
    deps: dict = {}
    seen = set()
    stack = list(start)
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for nxt in fn.next_functions:
            if isinstance(nxt, Function):
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    stack.append(nxt)
    by_fn = {op.fn: op for op in graph.ops}
    ready = [fn for fn in dict.fromkeys(start) if deps.get(fn, 0) == 0]
    step = 0
    while ready:
        fn = ready.pop()
        step += 1
        by_fn[fn].step = step
        for nxt in fn.next_functions:
            if isinstance(nxt, Function):
                deps[nxt] -= 1
                if deps[nxt] == 0:
                    ready.append(nxt)
