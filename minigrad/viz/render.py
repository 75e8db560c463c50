"""Turning DOT source into pictures: which program does it, and what happens without one.

Graphviz's `dot` program lays out and draws the graph. minigrad looks for one, in order:
  1. $MINIGRAD_DOT: the path of any program that takes dot's flags (-T FORMAT, source on stdin);
     when it is set, it is the only one tried;
  2. `dot` on PATH: Graphviz itself (apt-get install graphviz, brew install graphviz,
     conda install graphviz, winget install graphviz). Every format, pdf included;
  3. `graphviz-pure` on PATH: a self-contained port of dot, one static program in a wheel for
     Linux, macOS and Windows (`pip install graphviz-pure`, part of `pip install minigrad[viz]`).
     svg, png and jpeg; no pdf.
Building a graph and writing its DOT source need none of them. Without one, `save` writes the
.dot file and warns (or raises, with fallback_to_dot=False) with the install commands above, and
a notebook shows the DOT source as text instead of a picture.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

# what each renderer can write; "dot" (the source itself) needs no renderer at all
_DOT_FORMATS = {"svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "json", "plain", "xdot"}
_PURE_FORMATS = {"svg", "png", "jpg", "jpeg", "json", "plain", "xdot"}
SOURCE_FORMATS = {"dot", "gv"}
RENDER_TIMEOUT_S = 120
_told_how_to_install = False  # the full install help is given once per process, then briefly

INSTALL_HELP = (
    "Install a Graphviz `dot` program, one of:\n"
    "  pip install graphviz-pure        # self-contained, any OS; svg and png (no pdf)\n"
    "  apt-get install graphviz         # Debian/Ubuntu (brew / conda / winget install graphviz elsewhere)\n"
    "or point $MINIGRAD_DOT at a dot-compatible program."
)


class GraphvizNotFound(RuntimeError):
    """No program that can draw this format was found."""


def renderers() -> list:
    """[(name, path, formats)] of the programs found, best first."""
    found = []
    env = os.environ.get("MINIGRAD_DOT")
    if env:
        path = shutil.which(env) or (env if Path(env).is_file() else None)
        if path is None:
            raise GraphvizNotFound(f"$MINIGRAD_DOT is {env!r}, which is not a program that exists. {INSTALL_HELP}")
        formats = _PURE_FORMATS if "graphviz-pure" in Path(path).name else _DOT_FORMATS
        return [("$MINIGRAD_DOT", path, formats)]  # the user's choice: no other program is tried
    for program, formats in (("dot", _DOT_FORMATS), ("graphviz-pure", _PURE_FORMATS)):
        path = shutil.which(program)
        if path is not None:
            found.append((program, path, formats))
    return found


def render_bytes(source: str, format: str = "svg") -> bytes:
    """Run the best available renderer on DOT `source` and return the picture's bytes."""
    format = format.lower()
    available = renderers()
    usable = [r for r in available if format in r[2]]
    if not usable:
        if available:
            names = ", ".join(f"{n} ({', '.join(sorted(f))})" for n, _, f in available)
            raise GraphvizNotFound(
                f"minigrad.viz: no renderer found can write {format!r}; found {names}. "
                "For pdf install Graphviz itself (apt-get/brew/conda install graphviz), or save svg."
            )
        raise GraphvizNotFound(f"minigrad.viz: cannot draw {format!r}: no Graphviz `dot` program was found. {INSTALL_HELP}")
    name, path, _ = usable[0]
    try:
        done = subprocess.run(
            [path, f"-T{format}"], input=source.encode("utf-8"), capture_output=True, timeout=RENDER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"minigrad.viz: {name} took over {RENDER_TIMEOUT_S} s to lay out the graph; draw fewer nodes "
            "(draw_graph(..., max_nodes=200)) or save the .dot source"
        ) from None
    if done.returncode != 0:
        raise RuntimeError(
            f"minigrad.viz: {name} ({path}) failed with exit code {done.returncode}: "
            f"{done.stderr.decode('utf-8', 'replace').strip()[:2000]}"
        )
    return done.stdout


def _with_suffix(path: Path, format: str) -> Path:
    return path if path.suffix.lower() == "." + format else path.with_name(path.name + "." + format)


def save(digraph, path, format: str = "svg", fallback_to_dot: bool = True) -> Path:
    """Write `digraph` (a graphviz.Digraph, or DOT source as a str) to `path`.

    `path` may omit the extension (`out/lookup` -> `out/lookup.svg`). format is "svg", "png",
    "pdf" ... or "dot" for the source alone. Without a program that can draw the format, the DOT
    source is written instead (`out/lookup.dot`) with a warning that says how to get one, or,
    with fallback_to_dot=False, GraphvizNotFound is raised. Returns the path written.
    """
    source = digraph if isinstance(digraph, str) else digraph.source
    format = format.lower().lstrip(".")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format in SOURCE_FORMATS:
        out = _with_suffix(path, format)
        out.write_text(source, encoding="utf-8")
        return out
    try:
        data = render_bytes(source, format)
    except GraphvizNotFound as e:
        if not fallback_to_dot:
            raise
        out = _with_suffix(path.with_suffix("") if path.suffix.lower() == "." + format else path, "dot")
        out.write_text(source, encoding="utf-8")
        global _told_how_to_install
        reason = str(e) if not _told_how_to_install else f"minigrad.viz: cannot draw {format!r} (see above)."
        _told_how_to_install = True
        warnings.warn(
            f"{reason}\nWrote the DOT source to {out} instead; draw it later with `dot -T{format} {out} -o "
            f"{out.with_suffix('.' + format)}`.",
            stacklevel=2,
        )
        return out
    out = _with_suffix(path, format)
    out.write_bytes(data)
    return out


def notebook_bundle(source: str, include=None, exclude=None) -> dict:
    """What a Jupyter notebook shows for a graph: SVG when it can be drawn, else the source."""
    wanted = set(include) if include is not None else {"image/svg+xml"}
    wanted -= set(exclude or ())
    bundle = {}
    try:
        if "image/svg+xml" in wanted:
            bundle["image/svg+xml"] = render_bytes(source, "svg").decode("utf-8")
        if "image/png" in wanted:
            bundle["image/png"] = render_bytes(source, "png")
    except GraphvizNotFound as e:
        bundle = {"text/plain": f"{e}\n\nThe graph's DOT source:\n{source}"}
    return bundle
