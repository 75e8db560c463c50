"""`minigrad tour`: run every lesson in order and gather what they show into one report.

Each lesson (tutorials/NN_*.py) writes its figures, graphs, tables and numbers into its own
folder with a result.json (see minigrad/report.py). The tour runs them one after another in
this process, then writes `index.html` and `README.md` that show every lesson's results.
"""
from __future__ import annotations

import html
import json
import os
import re
import runpy
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path


def lessons_dir() -> Path:
    import tutorials

    return Path(tutorials.__file__).parent


def find_lessons(only=None) -> list[Path]:
    """The numbered lessons in order; `only` keeps the given numbers (1, 2, ...)."""
    paths = sorted(p for p in lessons_dir().glob("[0-9][0-9]_*.py"))
    if only:
        wanted = {int(n) for n in only}
        paths = [p for p in paths if int(p.name[:2]) in wanted]
    return paths


@contextmanager
def _lesson_env(out_dir: Path, fast: bool, data: str | None):
    saved_env = {k: os.environ.get(k) for k in ("MINIGRAD_FAST", "MINIGRAD_OUT", "MINIGRAD_DATA", "MPLBACKEND")}
    saved_argv = sys.argv
    os.environ["MINIGRAD_OUT"] = str(out_dir)
    os.environ["MINIGRAD_FAST"] = "1" if fast else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if data:
        os.environ["MINIGRAD_DATA"] = str(data)
    sys.argv = [sys.argv[0]]  # the lesson must not read the tour's own flags
    try:
        yield
    finally:
        sys.argv = saved_argv
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_lesson(path: Path, out_root: Path, fast: bool = False, data: str | None = None) -> dict:
    """Run one lesson as __main__ with its own output folder; return its result.json (or the error)."""
    out_dir = out_root / path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        with _lesson_env(out_dir, fast, data):
            runpy.run_path(str(path), run_name="__main__")
        result = json.loads((out_dir / "result.json").read_text())
    except Exception as e:  # a broken lesson is reported, and the tour goes on
        result = {"name": path.stem, "title": path.stem, "error": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc(), "items": [], "metrics": {}}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["dir"] = path.stem
    return result


def _item_html(lesson_dir: str, item: dict) -> str:
    kind = item.get("kind")
    cap = f"<figcaption>{html.escape(item.get('caption') or item.get('name', ''))}</figcaption>"
    if kind in ("figure", "graph"):
        src = f"{lesson_dir}/{item['path']}"
        if src.endswith(".dot"):
            return f'<p>graph source (install graphviz to render): <a href="{src}">{html.escape(src)}</a></p>'
        return f'<figure><img src="{html.escape(src)}" alt="{html.escape(item.get("name", ""))}">{cap}</figure>'
    if kind == "table":
        rows = item.get("rows") or []
        if not rows:
            return ""
        cols = list(rows[0].keys())
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
        )
        caption = f"<caption>{html.escape(item.get('caption', ''))}</caption>" if item.get("caption") else ""
        return f"<table>{caption}<tr>{head}</tr>{body}</table>"
    if kind == "text":
        return f"<p>{html.escape(item['text'])}</p>"
    return ""


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_report(results: list[dict], out_root: Path, fast: bool) -> tuple[Path, Path]:
    """index.html and README.md over every lesson's results."""
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
             "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px}.err{color:#b00;white-space:pre-wrap}")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>minigrad tour</title><style>{style}</style>"
             "</head><body><h1>minigrad tour</h1>",
             f"<p>{len(results)} lessons{' (fast mode)' if fast else ''}, run {time.strftime('%Y-%m-%d %H:%M')}.</p><ol>"]
    parts += [f"<li><a href='#{r['dir']}'>{html.escape(r.get('title', r['dir']))}</a> ({r['seconds']} s)</li>" for r in results]
    parts.append("</ol>")
    md = [f"# minigrad tour\n\n{len(results)} lessons{' (fast mode)' if fast else ''}.\n"]
    for r in results:
        parts.append(f"<h2 id='{r['dir']}'>{html.escape(r.get('title', r['dir']))}</h2>")
        md.append(f"\n## {r.get('title', r['dir'])}\n")
        if r.get("error"):
            parts.append(f"<p class='err'>This lesson failed: {html.escape(r['error'])}</p>")
            md.append(f"**This lesson failed:** `{r['error']}`\n")
        if r.get("metrics"):
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in r["metrics"].items())
            parts.append(f"<table><tr><th>result</th><th>value</th></tr>{rows}</table>")
            md.append("| result | value |\n|---|---|\n" + "".join(f"| {k} | {_fmt(v)} |\n" for k, v in r["metrics"].items()))
        for item in r.get("items", []):
            parts.append(_item_html(r["dir"], item))
            if item.get("kind") in ("figure", "graph"):
                md.append(f"\n![{item.get('name', '')}]({r['dir']}/{item['path']})\n")
            elif item.get("kind") == "table":
                md.append(("\n" + item["caption"] + "\n" if item.get("caption") else "") + "\n" + item.get("markdown", "") + "\n")
    parts.append("</body></html>")
    index = out_root / "index.html"
    index.write_text("\n".join(parts))
    readme = out_root / "README.md"
    readme.write_text("\n".join(md))
    return index, readme


def tour(out: str | os.PathLike = "minigrad-tour", fast: bool = False, lessons=None, data: str | None = None,
         progress: bool = True) -> Path:
    """Run the lessons and write the report; returns the path of index.html."""
    out_root = Path(out)
    out_root.mkdir(parents=True, exist_ok=True)
    paths = find_lessons(lessons)
    if not paths:
        raise SystemExit(f"tour: no lessons found for {lessons!r} in {lessons_dir()}")
    results = []
    for i, path in enumerate(paths, 1):
        label = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
        print(f"[{i}/{len(paths)}] lesson {path.stem[:2]}: {label}", flush=True)
        result = run_lesson(path, out_root, fast=fast, data=data)
        status = "FAILED: " + result["error"] if result.get("error") else "done"
        print(f"    {status} in {result['seconds']} s", flush=True)
        results.append(result)
    index, _ = write_report(results, out_root, fast)
    (out_root / "tour.json").write_text(json.dumps(
        [{k: r.get(k) for k in ("dir", "title", "seconds", "metrics", "error")} for r in results], indent=2, default=str))
    return index
