"""The named examples that `minigrad graph` draws show what their docstrings promise."""
import importlib.util

import pytest

pytest.importorskip("graphviz", reason="the examples return graphviz.Digraph objects")

from minigrad_tutorials import graphs  # noqa: E402
from viz_dot import by_label, label, parse  # noqa: E402

RED = "#e03131"


def test_lookup_cut_for_hard_and_one_hot_solid_for_soft():
    nodes, edges, _ = parse(graphs.lookup().source)
    roots = {label(a).split("\n")[0]: k for k, a in nodes.items() if a.get("fillcolor") == "#ffd8a8"}
    assert set(roots) == {"hard lookup loss", "one-hot lookup loss", "soft lookup loss"}
    # the gradient paths to the query and the keys end at the soft loss only
    assert nodes[roots["soft lookup loss"]]["color"] == RED
    assert nodes[roots["hard lookup loss"]].get("color") != RED
    assert nodes[roots["one-hot lookup loss"]].get("color") != RED
    cut = {label(nodes[s]).split("\n")[0] for s, _, a in edges if a.get("style") == "dashed"}
    assert cut == {"index", "one_hot(argmax)"}  # argmax's integer, and the one-hot row made from it
    hard_index = [s for s, _, a in edges if a.get("style") == "dashed" and label(nodes[s]).startswith("index")][0]
    assert "scalar int64" in label(nodes[hard_index])
    table = by_label(nodes, "table (bigram logits)")
    assert "used 3x" in label(nodes[table])  # one table, read three ways


def test_attention_has_its_projections_in_boxes():
    nodes, edges, clusters = parse(graphs.attention().source)
    for proj in ("q_proj", "k_proj", "v_proj"):
        assert by_label(nodes, f"attn.{proj}.weight") in clusters[f"cluster_attn_{proj}"]
    assert by_label(nodes, "Softmax") in clusters["cluster_attn"]
    mask = [s for s, _, a in edges if a.get("style") == "dashed" and label(nodes[s]).startswith("mask")]
    assert len(mask) == 1 and "(4, 4) bool" in label(nodes[mask[0]])


def test_mlp_layers_in_boxes():
    nodes, _, clusters = parse(graphs.mlp().source)
    assert by_label(nodes, "fc1.weight") in clusters["cluster_fc1"]
    assert by_label(nodes, "fc2.bias") in clusters["cluster_fc2"]
    assert by_label(nodes, "Tanh") in clusters["cluster_act"]


@pytest.mark.skipif(importlib.util.find_spec("minigrad_models.gpt") is None, reason="models/gpt.py is not there yet")
def test_gpt_one_layer():
    nodes, _, clusters = parse(graphs.gpt(layers=1).source)
    assert any(name.startswith("cluster_") for name in clusters) and len(nodes) > 20
