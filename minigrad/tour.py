"""`minigrad tour`: run every lesson in order and gather what they show into one report.

Each lesson (tutorials/NN_*.py) writes its figures, graphs, tables and numbers into its own
folder with a result.json (see minigrad/report.py). The tour runs them one after another in
this process, cell by cell (the `# %%` cells of the percent format), so that each lesson gets
a progress bar that moves as its cells finish. What a lesson prints goes to its folder's
log.txt (on the terminal too with verbose=True). Then `index.html` and `README.md` show every
lesson's results, and `tour.json` lists each lesson's status, time and numbers.

A lesson that raises is shown as failed in the report (with its traceback), the tour goes on
with the next one, and `TourReport.failed` is non-empty, so `minigrad tour` exits non-zero.
"""
from __future__ import annotations

import __future__
import builtins
import contextlib
import html
import json
import os
import re
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from . import random


# every `from __future__ import ...` flag, so one cell's future import holds for the next cells
_FUTURE_FLAGS = reduce(lambda a, b: a | b,
                       (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names))


# -- finding and reading lessons -------------------------------------------------------------------
def lessons_dir() -> Path:
    import tutorials

    return Path(tutorials.__file__).parent


def lesson_number(path: Path) -> int:
    return int(Path(path).name[:2])


def find_lessons(only=None, root: str | os.PathLike | None = None) -> list[Path]:
    """The numbered lessons (NN_name.py) in `root` (default: the tutorials package) in order;
    `only` keeps the given numbers (1, 2, ...) and is an error if one of them does not exist."""
    root = Path(root) if root is not None else lessons_dir()
    paths = sorted(root.glob("[0-9][0-9]_*.py"))
    if only:
        wanted = {int(n) for n in only}
        missing = sorted(wanted - {lesson_number(p) for p in paths})
        if missing:
            have = ", ".join(f"{lesson_number(p)} ({p.stem})" for p in paths) or "none"
            raise ValueError(f"tour: no lesson numbered {', '.join(map(str, missing))} in {root}; "
                             f"the lessons are: {have}")
        paths = [p for p in paths if lesson_number(p) in wanted]
    return paths


@dataclass
class Cell:
    """One `# %%` cell of a percent-format script. `first_line` is 0-based; `title` is the heading
    of the markdown cell before it (what the reader was told this cell does)."""
    first_line: int
    source: str
    markdown: bool
    title: str = ""


def read_cells(path: Path) -> list[Cell]:
    """Split a percent-format script into cells. A file without `# %%` markers is one cell."""
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("# %%")]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    cells, title = [], ""
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        body = "".join(lines[start:end])
        markdown = lines[start].startswith("# %%") and "[markdown]" in lines[start]
        if markdown:
            headings = [ln.lstrip("# ").strip() for ln in lines[start + 1:end] if re.match(r"#\s+#+\s", ln)]
            # shown beside the bar: without LaTeX and code marks, which a terminal cannot show
            title = re.sub(r"\$[^$]*\$", "...", headings[0]).replace("`", "") if headings else title
        cells.append(Cell(start, body, markdown, title))
    return cells


# -- running one lesson ----------------------------------------------------------------------------
@contextlib.contextmanager
def _lesson_env(path: Path, out_dir: Path, budget: str, data: str | None):
    """Environment and argv as the lesson expects them; everything restored afterwards."""
    names = ("MINIGRAD_FAST", "MINIGRAD_FULL", "MINIGRAD_OUT", "MINIGRAD_DATA", "MPLBACKEND")
    saved_env = {k: os.environ.get(k) for k in names}
    saved_argv = sys.argv
    os.environ["MINIGRAD_OUT"] = str(out_dir)
    # both set explicitly: the tour's budget, whatever the shell exported
    os.environ["MINIGRAD_FAST"] = "1" if budget == "fast" else "0"
    os.environ["MINIGRAD_FULL"] = "1" if budget == "full" else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if data:
        os.environ["MINIGRAD_DATA"] = str(data)
    else:  # the tour runs on the built-in data unless it is given --data
        os.environ.pop("MINIGRAD_DATA", None)
    sys.argv = [str(path)]  # the lesson must not read the tour's own flags
    try:
        yield
    finally:
        sys.argv = saved_argv
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _as_main_module(path: Path):
    """A fresh module named __main__ for the lesson's globals (what runpy.run_path does), so
    that classes and functions the lesson defines belong to it, not to the `minigrad` command."""
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    module.__builtins__ = builtins
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        yield module.__dict__
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


@contextlib.contextmanager
def _ticking(bar, out, interval: float = 0.5, heartbeat: float = 60.0):
    """While a long cell runs: redraw a tqdm bar every `interval` seconds, so its clock moves; or,
    for plain progress lines (a log, CI), write a line to `out` every `heartbeat` seconds, so a
    slow cell does not look like a hung one."""
    redraw = hasattr(bar, "refresh")
    if not redraw and getattr(bar, "disable", True):
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()

    def tick():
        while not stop.wait(interval if redraw else heartbeat):
            try:
                if redraw:
                    bar.refresh()
                else:
                    minutes = (time.perf_counter() - start) / 60
                    out.write(f"{bar.desc}: cell {bar.n + 1}/{bar.total} still running ({bar.postfix}), "
                              f"{minutes:.0f} min\n")
                    out.flush()
            except Exception:  # a closed bar, a closed terminal: stop quietly
                return

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _execute_cells(path: Path, cells: list[Cell], namespace: dict, bar, log=None) -> None:
    """Run the code cells in order in one namespace; line numbers in tracebacks are the file's.
    With `log` (a file), what a cell prints goes there; the bar itself stays on the terminal."""
    flags = 0
    terminal = sys.stdout  # before any redirection: where the progress goes
    for cell in bar:
        bar.set_postfix(cell=(cell.title or f"line {cell.first_line + 1}")[:40])
        code = compile("\n" * cell.first_line + cell.source, str(path), "exec", flags=flags, dont_inherit=True)
        flags |= code.co_flags & _FUTURE_FLAGS
        with contextlib.ExitStack() as capture, _ticking(bar, terminal):
            if log is not None:
                capture.enter_context(contextlib.redirect_stdout(log))
                capture.enter_context(contextlib.redirect_stderr(log))
            exec(code, namespace)


def _check_budget(budget: str) -> str:
    from .report import BUDGETS

    if budget not in BUDGETS:
        raise ValueError(f"tour: unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    return budget


def run_lesson(path: Path, out_root: Path, budget: str = "quick", data: str | None = None,
               verbose: bool = False, progress_bar: bool | None = None) -> dict:
    """Run one lesson with its own output folder at `budget` ("fast", "quick" or "full"; see
    minigrad/report.py); return its result.json, or the error.

    The result gets `dir`, `seconds`, `cpu_seconds` and `log` (the lesson's output, in log.txt) added; a lesson
    that raised, or finished without writing result.json, has `error` and `traceback`."""
    from .train import progress

    _check_budget(budget)
    path = Path(path)
    out_dir = Path(out_root) / path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").unlink(missing_ok=True)  # a stale result must not pass for a fresh one
    log_path = out_dir / "log.txt"
    code_cells = [c for c in read_cells(path) if not c.markdown]
    disable = None if progress_bar is None else not progress_bar
    bar = progress(code_cells, total=len(code_cells), desc=f"  lesson {path.stem[:2]}", disable=disable)
    # every lesson starts from a fresh process's random state, so that its numbers are the same
    # in the tour as when it runs alone (earlier lessons would otherwise have advanced it)
    random.default_generator.manual_seed(random.INITIAL_SEED)
    t0, cpu0 = time.perf_counter(), time.process_time()
    error = None
    with open(log_path, "w", encoding="utf-8", buffering=1) as log:  # line by line: `tail -f` works
        try:
            with _lesson_env(path, out_dir, budget, data), _as_main_module(path) as namespace:
                _execute_cells(path, code_cells, namespace, bar, log=None if verbose else log)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - a broken lesson (even one that calls sys.exit) is reported
            error = (f"{type(e).__name__}: {e}", traceback.format_exc())
            log.write("\n" + error[1])
        finally:
            bar.close()
            _close_figures()
    result_file = out_dir / "result.json"
    if error is None and not result_file.is_file():
        error = ("the lesson finished without writing result.json (does it end with lesson.finish()?)", "")
    if error is None:
        result = json.loads(result_file.read_text())
    else:
        result = {"name": path.stem, "title": path.stem, "items": [], "metrics": {}}
        result["error"], result["traceback"] = error
    result["seconds"] = round(time.perf_counter() - t0, 1)
    # CPU seconds of this process (all its threads): on a shared machine, the lesson's own cost
    result["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    result["dir"] = path.stem
    result["log"] = log_path.name
    return result


def _close_figures():
    """Figures a lesson left open would pile up over a tour (matplotlib warns past 20)."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# -- the report --------------------------------------------------------------------------------------
_STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;line-height:1.4}"
          "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}caption{text-align:left;font-style:italic}"
          ".err{color:#b00}.ok{color:#070}pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}"
          "figure{margin:1em 0}figcaption{color:#555;font-size:90%}")


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _columns(rows: list[dict]) -> list:
    cols = list(rows[0].keys())
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    return cols


def _markdown_table(rows: list[dict]) -> str:
    """A Markdown table; a | inside a cell is escaped, or it would split the cell."""
    if not rows:
        return ""

    def cell(v):
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    cols = _columns(rows)
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _table_html(rows: list[dict], caption: str = "") -> str:
    if not rows:
        return ""
    cols = _columns(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _image_paths(lesson_dir: str, item: dict, out_root: Path) -> tuple[str, str | None, bool]:
    """(what to show, the vector version to link to or None, whether the file exists)."""
    src = f"{lesson_dir}/{item['path']}"
    svg = src[:-4] + ".svg" if src.endswith(".png") else None
    if svg and not (out_root / svg).is_file():
        svg = None
    return src, svg, (out_root / src).is_file()


def _item_html(lesson_dir: str, item: dict, out_root: Path) -> str:
    kind = item.get("kind")
    name = item.get("name", "")
    if kind in ("figure", "graph"):
        src, svg, exists = _image_paths(lesson_dir, item, out_root)
        label = html.escape(item.get("caption") or name)
        if not exists:
            return f"<p class='err'>missing {kind} file: {html.escape(src)}</p>"
        if src.endswith(".dot"):
            return (f"<p>graph <b>{html.escape(name)}</b>: DOT source <a href='{html.escape(src)}'>{html.escape(src)}</a> "
                    "(the Graphviz <code>dot</code> program was missing; install it to see the picture: "
                    "<code>apt-get install graphviz</code> or <code>brew install graphviz</code>)</p>")
        img = f"<img src='{html.escape(src)}' alt='{html.escape(name)}'>"
        if svg:
            img = f"<a href='{html.escape(svg)}'>{img}</a>"
        return f"<figure>{img}<figcaption>{label}</figcaption></figure>"
    if kind == "table":
        return _table_html(item.get("rows") or [], item.get("caption", ""))
    if kind == "text":
        return f"<p>{html.escape(item['text'])}</p>"
    return ""


def _item_markdown(lesson_dir: str, item: dict, out_root: Path) -> str:
    kind = item.get("kind")
    if kind in ("figure", "graph"):
        src, _, exists = _image_paths(lesson_dir, item, out_root)
        if not exists:
            return f"\n**missing {kind} file:** `{src}`\n"
        if src.endswith(".dot"):
            return f"\ngraph `{item.get('name', '')}`: DOT source [{src}]({src}) (install Graphviz's `dot` to draw it)\n"
        caption = item.get("caption") or item.get("name", "")
        return f"\n![{item.get('name', '')}]({src})\n" + (f"\n*{caption}*\n" if caption else "")
    if kind == "table":
        md = _markdown_table(item.get("rows") or [])
        return ("\n" + item["caption"] + "\n" if item.get("caption") else "") + "\n" + md + "\n"
    if kind == "text":
        return "\n" + item["text"] + "\n"
    return ""


def write_report(results: list[dict], out_root: Path, budget: str, data: str | None = None) -> tuple[Path, Path]:
    """index.html and README.md over every lesson's results."""
    out_root = Path(out_root)
    failed = [r for r in results if r.get("error")]
    mode = f"{_check_budget(budget)} mode"
    source = f"corpora from {data}" if data else "built-in data"
    summary = (f"{len(results)} lesson{'s' if len(results) != 1 else ''}, {mode}, {source}, {sum(r['seconds'] for r in results):.0f} s in all; "
               + (f"{len(failed)} failed." if failed else "all ran."))
    overview = [{"lesson": r.get("title", r["dir"]), "status": "FAILED" if r.get("error") else "ok",
                 "seconds": r["seconds"], "figures": sum(i.get("kind") == "figure" for i in r.get("items", [])),
                 "graphs": sum(i.get("kind") == "graph" for i in r.get("items", []))} for r in results]

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>minigrad tour</title><style>{_STYLE}</style>"
             f"</head><body><h1>minigrad tour</h1><p>{html.escape(summary)} Run {time.strftime('%Y-%m-%d %H:%M')}.</p>",
             "<table><tr><th>lesson</th><th>status</th><th>seconds</th><th>figures</th><th>graphs</th></tr>"]
    for r, o in zip(results, overview):
        cls = "err" if r.get("error") else "ok"
        parts.append(f"<tr><td><a href='#{r['dir']}'>{html.escape(o['lesson'])}</a></td>"
                     f"<td class='{cls}'>{o['status']}</td><td>{o['seconds']}</td><td>{o['figures']}</td>"
                     f"<td>{o['graphs']}</td></tr>")
    parts.append("</table>")
    md = [f"# minigrad tour\n\n{summary}\n\n{_markdown_table(overview)}\n"]

    for r in results:
        title = r.get("title", r["dir"])
        parts.append(f"<h2 id='{r['dir']}'>{html.escape(title)}</h2>")
        md.append(f"\n## {title}\n")
        if r.get("error"):
            parts.append(f"<p class='err'><b>This lesson failed:</b> {html.escape(r['error'])}</p>"
                         f"<details><summary>traceback</summary><pre>{html.escape(r.get('traceback', ''))}</pre>"
                         f"</details>")
            md.append(f"**This lesson failed:** `{r['error']}` (see [{r['dir']}/{r['log']}]({r['dir']}/{r['log']}))\n")
        if r.get("metrics"):
            rows = [{"result": k, "value": v} for k, v in r["metrics"].items()]
            parts.append(_table_html(rows))
            md.append("\n" + _markdown_table(rows) + "\n")
        for item in r.get("items", []):
            parts.append(_item_html(r["dir"], item, out_root))
            md.append(_item_markdown(r["dir"], item, out_root))
        parts.append(f"<p><small>{r['seconds']} s; what the lesson printed: "
                     f"<a href='{r['dir']}/{r['log']}'>{r['dir']}/{r['log']}</a></small></p>")
    parts.append("</body></html>")
    index = out_root / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    readme = out_root / "README.md"
    readme.write_text("\n".join(md), encoding="utf-8")
    return index, readme


# -- the tour --------------------------------------------------------------------------------------
@dataclass
class TourReport:
    index: Path
    readme: Path
    results: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if r.get("error")]


def _say(line: str = "") -> None:
    print(line, flush=True)


def _graphviz_note() -> str | None:
    """One line for the start of the tour when graphs cannot be drawn, None when they can."""
    try:
        import graphviz  # noqa: F401  (the lessons build their graphs with it)
    except ImportError:
        return ("note: the graphviz Python package is missing, so the lessons cannot build their graphs: "
                'pip install -e ".[tour]"')
    from .viz import GraphvizNotFound, renderers

    try:
        if renderers():
            return None
    except GraphvizNotFound as e:  # $MINIGRAD_DOT names a program that is not there
        return f"note: {e}"
    return ("note: no Graphviz `dot` program was found, so the graphs are written as DOT source instead of "
            "pictures; install one (pip install graphviz-pure, or apt-get / brew install graphviz) and run "
            "the tour again")


def tour(out: str | os.PathLike = "minigrad-tour", budget: str = "quick", lessons=None, data: str | None = None,
         verbose: bool = False, progress_bar: bool | None = None, root: str | os.PathLike | None = None) -> TourReport:
    """Run the lessons (all, or the numbers in `lessons`) and write the report into `out`.

    budget: "fast" (a smoke test in under a minute), "quick" (the default: every lesson's point
    shows, in minutes) or "full" (the budgets the docstrings quote); see minigrad/report.py.

    data: a folder with names.txt / tinyshakespeare.txt; without it every lesson uses the built-in
    corpora (a $MINIGRAD_DATA in the environment is ignored, so the tour gives the same report
    everywhere). progress_bar: None decides from the terminal, False hides the bars."""
    _check_budget(budget)
    out_root = Path(out)
    paths = find_lessons(lessons, root)
    if not paths:
        raise ValueError(f"tour: no lessons (NN_name.py) found in {root or lessons_dir()}")
    out_root.mkdir(parents=True, exist_ok=True)
    note = _graphviz_note()
    if note:
        _say(note)
    if not data and os.environ.get("MINIGRAD_DATA"):
        _say(f"using the built-in data; pass --data {os.environ['MINIGRAD_DATA']} to use the corpora in $MINIGRAD_DATA")
    results = []
    for i, path in enumerate(paths, 1):
        label = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
        _say(f"[{i}/{len(paths)}] lesson {path.stem[:2]}: {label}")
        result = run_lesson(path, out_root, budget=budget, data=data, verbose=verbose, progress_bar=progress_bar)
        if result.get("error"):
            _say(f"    FAILED after {result['seconds']} s: {result['error']}")
            tail = result.get("traceback", "").strip().splitlines()[-12:]
            _say("\n".join("      " + line for line in tail))
            _say(f"    everything it printed: {out_root / path.stem / 'log.txt'}")
        else:
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in list(result.get("metrics", {}).items())[:2])
            _say(f"    done in {result['seconds']} s" + (f" ({shown})" if shown else ""))
        results.append(result)
    index, readme = write_report(results, out_root, budget, data)
    summary = [{k: r.get(k) for k in ("dir", "title", "budget", "seconds", "cpu_seconds", "metrics", "error")}
               for r in results]
    (out_root / "tour.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return TourReport(index, readme, results)
