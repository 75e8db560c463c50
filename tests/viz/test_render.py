"""Saving graphs: real SVG/PNG where a `dot` exists, DOT source and a helpful message where not."""
import shutil
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("graphviz", reason="draw_graph builds a graphviz.Digraph (pip install graphviz)")

import minigrad as mg  # noqa: E402
from minigrad import nn, viz  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402
from viz_dot import parse  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(
    not shutil.which("dot") and not shutil.which("graphviz-pure"),
    reason="no Graphviz program: apt-get install graphviz, or pip install graphviz-pure",
)


def small_graph():
    a = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = mg.tensor(np.ones(3), requires_grad=True)
    a.name, b.name = "weights_a", "bias_b"
    return viz.draw_graph((a * b).sum())


def svg_titles_and_text(path):
    root = ET.parse(path).getroot()  # it must be well-formed XML
    titles = {t.text for t in root.iter(SVG + "title")}
    text = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    return titles, text


@needs_dot
def test_svg_is_xml_with_every_node(tmp_path):
    g = small_graph()
    path = viz.save(g, tmp_path / "graph")
    assert path == tmp_path / "graph.svg"
    titles, text = svg_titles_and_text(path)
    nodes, edges, _ = parse(g.source)
    assert set(nodes) <= titles  # each node is drawn under its id
    assert "weights_a" in text and "bias_b" in text and "(2, 3) float64" in text
    assert sum(1 for t in titles if "->" in t) == len(edges)


@needs_dot
def test_png_and_an_explicit_suffix(tmp_path):
    path = viz.save(small_graph(), tmp_path / "graph.png", format="png")
    assert path == tmp_path / "graph.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not shutil.which("graphviz-pure"), reason="graphviz-pure is not installed (pip install graphviz-pure)")
def test_graphviz_pure_draws_the_same_nodes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DOT", shutil.which("graphviz-pure"))
    g = small_graph()
    titles, text = svg_titles_and_text(viz.save(g, tmp_path / "pure"))
    assert set(parse(g.source)[0]) <= titles and "weights_a" in text
    with pytest.raises(viz.GraphvizNotFound, match="pdf"):  # it has no pdf writer: say so
        viz.save(g, tmp_path / "pure", format="pdf", fallback_to_dot=False)


def test_dot_source_needs_no_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot, no graphviz-pure
    monkeypatch.delenv("MINIGRAD_DOT", raising=False)
    g = small_graph()
    path = viz.save(g, tmp_path / "graph", format="dot")
    assert path.suffix == ".dot" and path.read_text() == g.source


def test_without_dot_save_falls_back_to_source_and_says_how_to_install(tmp_path, monkeypatch):
    from minigrad.viz import render

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MINIGRAD_DOT", raising=False)
    monkeypatch.setattr(render, "_told_how_to_install", False)
    g = small_graph()
    with pytest.warns(UserWarning, match="pip install graphviz-pure") as warned:
        path = viz.save(g, tmp_path / "graph", format="svg")
    assert path == tmp_path / "graph.dot" and path.read_text() == g.source
    assert "apt-get install graphviz" in str(warned[0].message)
    with pytest.warns(UserWarning, match="see above") as again:  # the second time, briefly
        viz.save(g, tmp_path / "graph2", format="svg")
    assert "pip install" not in str(again[0].message) and (tmp_path / "graph2.dot").exists()
    with pytest.raises(viz.GraphvizNotFound, match="no Graphviz `dot` program was found"):
        viz.save(g, tmp_path / "graph", format="svg", fallback_to_dot=False)
    bundle = g._repr_mimebundle_()  # a notebook shows the source instead of failing
    assert list(bundle) == ["text/plain"] and "digraph" in bundle["text/plain"]


def test_minigrad_dot_pointing_nowhere_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DOT", str(tmp_path / "no-such-dot"))
    with pytest.raises(viz.GraphvizNotFound, match="MINIGRAD_DOT"):
        viz.save(small_graph(), tmp_path / "g", fallback_to_dot=False)


@needs_dot
def test_notebook_shows_svg():
    bundle = small_graph()._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]
    png = small_graph()._repr_mimebundle_(include=["image/png"])
    assert png["image/png"][:4] == b"\x89PNG"


class _Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _TinyGPT(nn.Module):
    """A GPT-2-shaped decoder (token and position embeddings, pre-norm blocks, a head)."""

    def __init__(self, vocab=16, block=8, d=16, heads=2, layers=2):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList([_Block(d, heads) for _ in range(layers)])
        self.ln_f, self.lm_head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mg.arange(T))
        mask = mg.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
        for block in self.blocks:
            x = block(x, mask)
        return self.lm_head(self.ln_f(x))


def test_two_layer_gpt_graph_has_module_boxes_and_renders_quickly(tmp_path):
    mg.manual_seed(0)
    model = _TinyGPT(layers=2)
    idx = mg.randint(0, 16, (2, 8))
    start = time.perf_counter()
    with viz.record_modules(model):
        logits = model(idx)
    loss = F.cross_entropy(logits.reshape(-1, 16), idx.reshape(-1))
    g = viz.draw_graph(loss, params=model, rankdir="TB")
    built = time.perf_counter() - start
    nodes, edges, clusters = parse(g.source)
    for name in ("blocks.0.attn", "blocks.1.attn", "blocks.1.mlp", "wte", "lm_head"):
        assert "cluster_" + name.replace(".", "_") in clusters
    params = dict(model.named_parameters())
    in_params = {k for k, a in nodes.items() if a.get("label", "").split("\\n")[0] in params}
    assert len(in_params) == len(params)  # every parameter is drawn, under its module path
    assert "hidden" not in nodes
    if shutil.which("dot") or shutil.which("graphviz-pure"):
        path = viz.save(g, tmp_path / "gpt")
        ET.parse(path)
    took = time.perf_counter() - start
    print(f"2-layer GPT graph: {len(nodes)} nodes, {len(edges)} edges; built in {built:.2f} s, drawn in {took:.2f} s")
    assert took < 20, f"a 2-layer GPT graph took {took:.1f} s to build and draw"
