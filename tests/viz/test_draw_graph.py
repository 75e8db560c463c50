"""draw_graph: the DOT it writes has the nodes, edges and marks that a hand count predicts, and
the marks agree with what backward then really does."""
import numpy as np
import pytest

pytest.importorskip("graphviz", reason="draw_graph builds a graphviz.Digraph (pip install graphviz)")

import minigrad as mg  # noqa: E402
from minigrad import viz  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402
from viz_dot import by_label, label, parse  # noqa: E402

RED = "#e03131"


def leaf(shape, name, seed=0, dtype=np.float64):
    t = mg.tensor(np.random.default_rng(seed).normal(size=shape).astype(dtype), requires_grad=True)
    t.name = name
    return t


def test_known_expression_node_and_edge_counts():
    # L = sum(a * b + a): leaves a (4, 3), b (3,); ops Mul, Add, Sum with their three outputs
    a, b = leaf((4, 3), "a"), leaf((3,), "b", seed=1)
    L = (a * b + a).sum()
    nodes, edges, _ = parse(viz.draw_graph(L).source)
    assert len(nodes) == 2 + 3 + 3
    assert len(edges) == 8  # a->Mul, b->Mul, Mul->out, out->Add, a->Add, Add->out, out->Sum, Sum->L
    ops = sorted(label(x).split("\n")[0] for x in nodes.values() if x["shape"] == "ellipse")
    assert ops == ["Add +", "Mul *", "Sum"]
    na, nb = by_label(nodes, "a"), by_label(nodes, "b")
    assert "(4, 3) float64" in label(nodes[na]) and "(3,) float64" in label(nodes[nb])
    assert sum(1 for x in nodes.values() if "(4, 3) float64" in label(x)) == 3  # a and two intermediates
    assert any(label(x).startswith("scalar float64") for x in nodes.values())


def test_a_plus_a_marks_the_accumulation_and_backward_adds_the_two_gradients():
    a = leaf((3,), "a")
    y = (a + a).sum()
    nodes, edges, _ = parse(viz.draw_graph(y).source)
    na = by_label(nodes, "a")
    assert len(nodes) == 5 and len(edges) == 5  # a, Add, a+a, Sum, y; a->Add twice, Add->, ->Sum, Sum->y
    assert [e for e in edges if e[0] == na] and len([e for e in edges if e[0] == na]) == 2  # two parallel edges
    assert nodes[na]["peripheries"] == "2" and "used 2x: grads add up" in label(nodes[na])
    y.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2.0)  # what the mark says: the two uses add up


def test_broadcast_edge_shows_both_shapes():
    a, b = leaf((4, 3), "a"), leaf((3,), "b", seed=1)
    L = (a * b).sum()
    nodes, edges, _ = parse(viz.draw_graph(L).source)
    nb = by_label(nodes, "b")
    (edge,) = [e for e in edges if e[0] == nb]
    assert "(4, 3) -> (3,)" in edge[2]["label"].replace("\\n", " ")
    (edge_a,) = [e for e in edges if e[0] == by_label(nodes, "a")]
    assert "label" not in edge_a[2]  # a has the output's shape: nothing is summed
    L.backward()
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().sum(axis=0))  # the sum the edge announces


def _no_grad_edges(edges):
    return [e for e in edges if e[2].get("style") == "dashed"]


def test_integer_index_mask_and_detached_inputs_are_cut_edges():
    table = leaf((5, 3), "table")
    w = leaf((3,), "w", seed=2)
    ids = mg.tensor([1, 3, 3])
    ids.name = "ids"
    rows = F.embedding(ids, table)  # (3, 3): rows 1, 3, 3
    frozen = w.detach()
    frozen.name = "w.detach()"
    gated = mg.where(rows > 0, rows, rows * 0.5)  # the comparison gives a bool mask
    picked = gated.gather(1, mg.tensor([[0], [2], [1]]))
    L = (picked.reshape(3) * frozen).sum()
    nodes, edges, _ = parse(viz.draw_graph(L).source)

    cut = _no_grad_edges(edges)
    sources = sorted(label(nodes[e[0]]).split("\n")[:2] for e in cut)
    # F.embedding hands the op the ids' array, so they show as "index" rather than by name
    assert sources == [["index", "(3, 1) int64"], ["index", "(3,) int64"], ["mask", "(3, 3) bool"], ["w.detach()", "(3,) float64"]]
    for e in cut:
        assert e[2]["label"] == "no grad" and e[2]["arrowhead"] == "empty"
        assert "no gradient" in label(nodes[e[0]]) and "dashed" in nodes[e[0]]["style"]
    assert len([e for e in edges if "style" not in e[2]]) == len(edges) - len(cut)
    # the engine agrees: table gets a gradient in the rows it read, w (behind .detach()) none
    L.backward()
    assert w.grad is None
    assert set(np.flatnonzero(np.abs(table.grad.numpy()).sum(1))) <= {1, 3}
    assert "w" not in {label(x).split("\n")[0] for x in nodes.values()}


def test_argmax_result_is_a_cut_index_into_the_table():
    table, q = leaf((4, 2), "table"), leaf((2,), "q", seed=3)
    i = (table @ q).argmax()
    loss = table[i].sum()
    g = viz.draw_graph(loss, highlight=[q])
    nodes, edges, _ = parse(g.source)
    (cut,) = _no_grad_edges(edges)
    assert label(nodes[cut[0]]).startswith("index\nscalar int64")
    assert by_label(nodes, "table")
    # q is not in the graph at all: it is shown apart, as unreached
    assert "unreached0" in nodes and label(nodes["unreached0"]).startswith("q\n(2,) float64")
    loss.backward()
    assert q.grad is None and table.grad is not None


def test_highlight_is_the_set_of_nodes_on_gradient_paths_to_the_target():
    a, b, c, d = (leaf((2, 2), n, seed=s) for s, n in enumerate("abcd"))
    m = a * b
    s = m + c
    u = s.sum()
    v = d * 2.0
    w = v.sum()
    L = u + w
    for t, n in ((m, "m"), (s, "s"), (u, "u"), (v, "v"), (w, "w"), (L, "L")):
        t.name = n
    nodes, edges, _ = parse(viz.draw_graph(L, highlight=b).source)
    red = {k for k, x in nodes.items() if x.get("color") == RED}
    red_tensors = {label(nodes[k]).split("\n")[0] for k in red if nodes[k]["shape"] == "box"}
    red_ops = sorted(label(nodes[k]).split("\n")[0] for k in red if nodes[k]["shape"] == "ellipse")
    assert red_tensors == {"b", "m", "s", "u", "L"}
    assert red_ops == ["Add +", "Add +", "Mul *", "Sum"]
    red_edges = [(e[0], e[1]) for e in edges if e[2].get("color") == RED]
    assert len(red_edges) == 8  # b->Mul->m->Add->s->Sum->u->Add->L
    assert all(src in red and dst in red for src, dst in red_edges)


def test_highlight_by_name_and_several_targets():
    a, b = leaf((2,), "a"), leaf((2,), "b", seed=1)
    L = (a.exp() + b).sum()
    nodes, _, _ = parse(viz.draw_graph(L, highlight=["a", b]).source)
    assert nodes[by_label(nodes, "a")]["color"] == RED and nodes[by_label(nodes, "b")]["color"] == RED
    assert nodes[by_label(nodes, "Exp")]["color"] == RED


def test_backward_order_numbers_match_the_order_the_engine_runs():
    x = leaf((3,), "x")
    h1 = x.tanh()
    h2 = x.sigmoid()
    h3 = h1 * h2
    h4 = h3.exp() + h1
    L = h4.sum()
    named = {"tanh": h1, "sigmoid": h2, "mul": h3, "add": h4, "sum": L}
    ran = []
    for name, t in named.items():
        t.register_hook(lambda g, name=name: ran.append(name))
    nodes, _, _ = parse(viz.draw_graph(L, backward_order=True).source)
    numbered = {}
    for x_ in nodes.values():
        first = label(x_).split("\n")[0]
        if first.startswith("["):
            step, op = first[1:].split("] ")
            numbered[int(step)] = op.split(" ")[0]
    L.backward()
    op_of = {"tanh": "Tanh", "sigmoid": "Sigmoid", "mul": "Mul", "add": "Add", "sum": "Sum"}
    engine_order = [op_of[n] for n in ran]  # a tensor's hook runs when its node runs
    drawn_order = [numbered[k] for k in sorted(numbered) if numbered[k] in engine_order]
    assert drawn_order == engine_order
    assert sorted(numbered) == list(range(1, 7))  # 6 ops: Sum, Add, Exp, Mul, Sigmoid, Tanh


def test_shapes_of_dropped_intermediates_are_worked_out():
    x = mg.tensor(np.ones((4, 3)))
    W, b = leaf((3, 3), "W"), leaf((3,), "b", seed=1)
    t = mg.tensor(np.ones((2, 6)))
    loss = ((x @ W + b).tanh().reshape(2, 6).softmax(dim=1) * t).sum()  # no intermediate survives
    graph = viz.trace(loss)
    shapes = {op.name: op.output.shape for op in graph.ops}
    assert shapes == {
        "MatMul": (4, 3), "Add": (4, 3), "Tanh": (4, 3), "Reshape": (2, 6),
        "Softmax": (2, 6), "Mul": (2, 6), "Sum": (),
    }


def test_values_and_grads_on_a_graph_traced_before_backward():
    table = leaf((5, 3), "table")
    rows = F.embedding(mg.tensor([1, 3]), table)
    loss = (rows * rows).sum()
    graph = viz.trace(loss)
    loss.backward()
    nodes, edges, _ = parse(viz.draw_graph(graph, show_grads=True, show_values=True).source)
    text = label(nodes[by_label(nodes, "table")])
    assert "nonzero rows: [1, 3] of 5" in text
    g = table.grad.numpy()
    assert f"grad [{g[0, 0]:.4g}, {g[0, 1]:.4g}, {g[0, 2]:.4g}, ...] norm {np.sqrt((g * g).sum()):.4g}" in text
    assert nodes[by_label(nodes, "table")]["color"] == "#2b8a3e"  # a leaf that holds a .grad
    assert _no_grad_edges(edges)  # the index edge survived backward because it was traced first
    root = [x for x in nodes.values() if x.get("fillcolor") == "#ffd8a8"][0]
    assert "grad 1" in label(root)


def test_small_values_are_shown_in_full():
    a = mg.tensor([1.5, -2.0], requires_grad=True)
    a.name = "a"
    nodes, _, _ = parse(viz.draw_graph((a * a).sum(), show_values=True).source)
    assert "data [1.5, -2]" in label(nodes[by_label(nodes, "a")])


def test_max_nodes_collapses_with_a_note():
    x = leaf((2,), "x")
    y = x
    for _ in range(50):
        y = y * 1.01
    g = viz.draw_graph(y.sum(), max_nodes=10)
    nodes, _, _ = parse(g.source)
    total = 1 + 51 * 2  # x, then 51 ops (50 Mul and a Sum) and their outputs
    assert len(nodes) == 10 + 1 and "hidden" in nodes
    assert f"{total - 10} more nodes not drawn" in label(nodes["hidden"])
    assert f"max_nodes={total}" in label(nodes["hidden"])


def test_module_clusters_from_parameter_names():
    W0, W1 = leaf((3, 4), "W0"), leaf((4, 2), "W1", seed=1)
    x = mg.tensor(np.ones((5, 3)))
    loss = ((x @ W0).tanh() @ W1).sum()
    params = {"layers.0.weight": W0, "layers.1.weight": W1}
    nodes, _, clusters = parse(viz.draw_graph(loss, params=params).source)
    w0, w1 = by_label(nodes, "layers.0.weight"), by_label(nodes, "layers.1.weight")
    assert w0 in clusters["cluster_layers_0"] and w1 in clusters["cluster_layers_1"]
    assert w0 in clusters["cluster_layers"] and w1 in clusters["cluster_layers"]
    matmuls = [k for k, x_ in nodes.items() if label(x_).startswith("MatMul")]
    assert sorted(sum(k in clusters[c] for k in matmuls) for c in ("cluster_layers_0", "cluster_layers_1")) == [1, 1]
    # the tanh after layer 0's matmul steps out of that layer, into `layers`
    tanh = by_label(nodes, "Tanh")
    assert tanh in clusters["cluster_layers"] and tanh not in clusters["cluster_layers_0"]
    flat, _, no_clusters = parse(viz.draw_graph(loss, params=params, group_modules=False).source)
    assert no_clusters == {} and len(flat) == len(nodes)


def test_record_modules_places_each_op_in_the_module_that_ran_it():
    from minigrad import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    mg.manual_seed(0)
    model = MLP()
    with viz.record_modules(model):
        logits = model(mg.randn(4, 3))
    loss = F.cross_entropy(logits, mg.tensor([0, 1, 1, 0]))
    assert "forward" not in vars(model.fc1)  # the wrappers are gone again
    nodes, _, clusters = parse(viz.draw_graph(loss, params=model).source)
    assert by_label(nodes, "fc1.weight") in clusters["cluster_fc1"]
    assert by_label(nodes, "Tanh") in clusters["cluster_act"]
    ce = by_label(nodes, "CrossEntropy")
    assert not any(ce in members for members in clusters.values())  # made outside the model


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor"):
        viz.draw_graph([1.0])
    x = leaf((2,), "x")
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw_graph(x.sum(), rankdir="UP")
    with pytest.raises(TypeError, match=r"params\['w'\] is a list"):
        viz.draw_graph(x.sum(), params={"w": [1, 2]})
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw_graph(x.sum(), max_nodes=0)


def test_a_leaf_alone_and_a_tensor_without_graph():
    x = leaf((2,), "x")
    nodes, edges, _ = parse(viz.draw_graph(x).source)
    assert len(nodes) == 1 and not edges
    c = mg.tensor([1.0, 2.0]) * 2  # nothing requires grad: no graph was recorded
    nodes, edges, _ = parse(viz.draw_graph(c).source)
    assert len(nodes) == 1 and "no gradient" in label(next(iter(nodes.values())))


def test_after_backward_the_engine_keeps_what_a_graph_needs():
    # release() swaps each saved array for its shape and dtype and the engine keeps the output's
    # (shape, dtype): a graph drawn after backward still shows the cut edge, the dims, the shapes
    table = leaf((5, 3), "table")
    picked = F.embedding(mg.tensor([4, 0]), table)
    total = picked.sum(dim=1)
    loss = total.sum()
    del picked, total  # no intermediate survives
    loss.backward()
    nodes, edges, _ = parse(viz.draw_graph(loss).source)
    (cut,) = _no_grad_edges(edges)
    assert label(nodes[cut[0]]).split("\n")[1] == "(2,) int64"
    assert sorted(label(x) for x in nodes.values() if label(x).startswith("Sum")) == ["Sum\ndims=(0,)", "Sum\ndims=(1,)"]
    assert sum("(2,) float64" in label(x) for x in nodes.values()) == 1  # the output of sum(dim=1)
    assert sum("(2, 3) float64" in label(x) for x in nodes.values()) == 1  # the embedding's output
