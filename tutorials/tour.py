"""`minigrad tour`: run every lesson in order and gather what they show into one report.

Each lesson (tutorials/NN_*.py) writes its figures, graphs, tables and numbers into its own
folder with a result.json (see tutorials/report.py). The tour runs them one after another in
this process, cell by cell (the `# %%` cells of the percent format), under one progress line
(TourBar: which lesson, which cell, the minutes spent) with each training loop's bar beneath it
(the step, the loss, the time left). What a lesson prints goes to its folder's log.txt (on the
terminal too with verbose=True). Then `index.html` and `README.md` (tutorials/tour_page.py) show
every lesson's results, and `tour.json` lists each lesson's status, time, point and numbers.

A lesson that raises is shown as failed in the report (with its traceback), the tour goes on
with the next one, and `TourReport.failed` is non-empty, so `minigrad tour` exits non-zero.
"""
from __future__ import annotations

import __future__
import builtins
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from minigrad import random
from .report import check_budget, fmt
from minigrad.train import clock_text
from .tour_page import write_report


# every `from __future__ import ...` flag, so one cell's future import holds for the next cells
_FUTURE_FLAGS = reduce(lambda a, b: a | b,
                       (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names))


# -- finding and reading lessons -------------------------------------------------------------------
def lessons_dir() -> Path:
    import minigrad_tutorials as tutorials

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


# minutes a whole tour takes at each budget on a 2-core laptop (what the README says): the bar's yardstick
TOUR_MINUTES = {"fast": 1, "quick": 10, "full": 22}


class TourBar:
    """The tour's own line on the terminal: which lesson, which of its cells, and the minutes spent
    against what the whole tour should take. A tqdm bar on a terminal; otherwise (a log, CI) the
    same as a line every `heartbeat` seconds, so that nothing looks hung. Training loops draw
    their own bars under it (minigrad.train.Budget)."""

    def __init__(self, lessons: int, budget: str, whole_tour: bool, stream, disable: bool = False,
                 heartbeat: float = 20.0):
        from minigrad.train import _tqdm, progress_to

        self.lessons, self.stream, self.disable, self.heartbeat = lessons, stream, disable, heartbeat
        self.expected = TOUR_MINUTES[budget] * 60 if whole_tour else None
        self.lesson_label, self.cell_label = "", ""
        self.index, self.cells = 0, 1
        self.t0 = self._last_line = time.perf_counter()
        with progress_to(stream):
            tqdm = None if disable else _tqdm()
        self.bar = None if tqdm is None else tqdm(   # the status rides in tqdm's free-form {unit} field
            total=1000, file=stream, dynamic_ncols=True, desc="tour", leave=True, unit="",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {unit}")

    def status(self) -> str:
        spent = time.perf_counter() - self.t0
        clock = clock_text(spent) + (f" of about {clock_text(self.expected)}" if self.expected else "")
        return f"{self.lesson_label} | {self.cell_label} | {clock}"

    def lesson(self, index: int, label: str, cells: int) -> None:
        self.index, self.cells = index, max(cells, 1)
        self.lesson_label = f"lesson {index}/{self.lessons} {label}"

    def cell(self, index: int, title: str) -> None:
        self.cell_label = f"cell {index}/{self.cells} {title}"
        if self.bar is not None:
            done = int(1000 * (self.index - 1 + (index - 1) / self.cells) / self.lessons)
            self.bar.update(done - self.bar.n)
        self.tick()

    def _line(self) -> None:
        self._last_line = time.perf_counter()
        print(f"  {self.status()}", file=self.stream, flush=True)

    def tick(self) -> None:
        """Move the clock (a heartbeat line in plain mode)."""
        if self.bar is not None:
            self.bar.unit = self.status()
            self.bar.refresh()
        elif not self.disable and time.perf_counter() - self._last_line >= self.heartbeat:
            self._line()

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(1000 - self.bar.n)
            spent = clock_text(time.perf_counter() - self.t0)
            self.bar.unit = f"{self.lessons} lesson{'s' * (self.lessons > 1)} in {spent}"
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _ticking(bar: TourBar, interval: float = 0.5):
    """While a cell runs, move the tour bar's clock every `interval` seconds."""
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def tick():
        while not stop.wait(interval):
            try:
                bar.tick()
            except Exception:  # a closed bar, a closed terminal: stop quietly
                return

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _execute_cells(path: Path, cells: list[Cell], namespace: dict, bar: TourBar, log=None) -> None:
    """Run the code cells in order in one namespace; line numbers in tracebacks are the file's.
    With `log` (a file), what a cell prints goes there; the progress bars stay on the terminal."""
    from minigrad.train import progress_to

    flags = 0
    for i, cell in enumerate(cells, 1):
        bar.cell(i, (cell.title or f"line {cell.first_line + 1}")[:40])
        code = compile("\n" * cell.first_line + cell.source, str(path), "exec", flags=flags, dont_inherit=True)
        flags |= code.co_flags & _FUTURE_FLAGS
        with contextlib.ExitStack() as capture, _ticking(bar), progress_to(bar.stream):
            if log is not None:
                capture.enter_context(contextlib.redirect_stdout(log))
                capture.enter_context(contextlib.redirect_stderr(log))
            exec(code, namespace)


def run_lesson(path: Path, out_root: Path, budget: str = "quick", data: str | None = None,
               verbose: bool = False, bar: TourBar | None = None) -> dict:
    """Run one lesson with its own output folder at `budget` ("fast", "quick" or "full"; see
    tutorials/report.py); return its result.json, or the error. `bar`: the tour's progress line
    (None: a silent one).

    The result gets `dir`, `seconds`, `cpu_seconds` and `log` (the lesson's output, in log.txt) added; a lesson
    that raised, or finished without writing result.json, has `error` and `traceback`."""
    check_budget(budget)
    path = Path(path)
    out_dir = Path(out_root) / path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").unlink(missing_ok=True)  # a stale result must not pass for a fresh one
    log_path = out_dir / "log.txt"
    code_cells = [c for c in read_cells(path) if not c.markdown]
    if bar is None:
        bar = TourBar(1, budget, False, sys.stderr, disable=True)
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


def lesson_seed(seed: int, path: str, budget: str, time_share: float = 1.0, data: str | None = None) -> dict:
    """Run the lesson at `path` for one more seed (MINIGRAD_SEED), in a scratch folder, with
    `time_share` of each quick budget's seconds; its numeric metrics. What Lesson.run_seeds runs
    in each of its worker processes (minigrad_tutorials.seeds)."""
    import tempfile

    os.environ["MINIGRAD_SEED"], os.environ["MINIGRAD_TIME_SHARE"] = str(seed), str(time_share)
    with tempfile.TemporaryDirectory(prefix=f"minigrad-seed{seed}-") as tmp:
        result = run_lesson(Path(path), Path(tmp), budget=budget, data=data)
    if result.get("error"):
        raise RuntimeError(f"{Path(path).stem} for seed {seed} failed: {result['error']}\n{result.get('traceback', '')}")
    return {k: float(v) for k, v in result["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _close_figures():
    """Figures a lesson left open would pile up over a tour (matplotlib warns past 20)."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# -- the tour --------------------------------------------------------------------------------------
@dataclass
class TourReport:
    index: Path
    readme: Path
    results: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.results if r.get("error")]


def _graphviz_note() -> str | None:
    """One line for the start of the tour when graphs cannot be drawn, None when they can."""
    try:
        import graphviz  # noqa: F401  (the lessons build their graphs with it)
    except ImportError:
        return ("note: the graphviz Python package is missing, so the lessons cannot build their graphs: "
                'pip install -e ".[tour]"')
    from minigrad.viz import GraphvizNotFound, renderers

    try:
        if renderers():
            return None
    except GraphvizNotFound as e:  # $MINIGRAD_DOT names a program that is not there
        return f"note: {e}"
    return ("note: no Graphviz `dot` program was found, so the graphs are written as DOT source instead of "
            "pictures; install one (pip install graphviz-pure, or apt-get / brew install graphviz) and run "
            "the tour again")


def _previews(results: list[dict], out_root: Path, bar: TourBar) -> None:
    """preview.png in each lesson's folder: the top of its section in the report, as Chromium shows
    it in a 1280-pixel-wide window (skipped, with a line saying so, without Chromium)."""
    from .chromium import find_chromium, screenshot
    from .tour_page import section_page

    exe = find_chromium()
    if exe is None:
        bar.write("no Chromium here (apt-get install chromium), so no preview.png screenshots of the lessons")
        return
    t0 = time.perf_counter()
    for r in results:
        page = out_root / r["dir"] / "preview.html"
        page.write_text(section_page(r, out_root), encoding="utf-8")
        try:
            screenshot(exe, page, out_root / r["dir"] / "preview.png")
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            bar.write(f"preview of {r['dir']} failed: {e}")
        finally:
            page.unlink(missing_ok=True)
    bar.write(f"preview.png of each lesson's section in {time.perf_counter() - t0:.0f} s (Chromium, 1280 px wide)")


def tour(out: str | os.PathLike = "minigrad-tour", budget: str = "quick", lessons=None, data: str | None = None,
         verbose: bool = False, progress_bar: bool | None = None, root: str | os.PathLike | None = None,
         threads: int | None = None, previews: bool = True) -> TourReport:
    """Run the lessons (all, or the numbers in `lessons`) and write the report into `out`.

    budget: "fast" (a smoke test in under a minute), "quick" (the default: each model trains for
    a share of about ten minutes of wall clock, and each lesson says whether its point showed) or
    "full" (the fixed step counts the docstrings quote); see tutorials/report.py.

    data: a folder with names.txt / tinyshakespeare.txt; without it every lesson uses the built-in
    corpora (a $MINIGRAD_DATA in the environment is ignored, so the tour gives the same report
    everywhere). progress_bar: None decides from the terminal, False hides the bars. threads:
    numpy's BLAS threads (None: minigrad_tutorials.autothreads' rule, said on the first line). previews:
    a preview.png of each lesson's section, where Chromium is installed."""
    from .autothreads import apply as apply_threads
    from minigrad.train import quiet

    check_budget(budget)
    out_root = Path(out)
    paths = find_lessons(lessons, root)
    if not paths:
        raise ValueError(f"tour: no lessons (NN_name.py) found in {root or lessons_dir()}")
    out_root.mkdir(parents=True, exist_ok=True)
    stream = sys.stderr if hasattr(sys.stderr, "isatty") and sys.stderr.isatty() else sys.stdout
    disable = quiet() if progress_bar is None else not progress_bar
    threads = apply_threads(threads)
    note = _graphviz_note()
    if note:
        print(note, flush=True)
    if not data and os.environ.get("MINIGRAD_DATA"):
        print(f"using the built-in data; pass --data {os.environ['MINIGRAD_DATA']} to use the corpora in "
              "$MINIGRAD_DATA", flush=True)
    bar = TourBar(len(paths), budget, whole_tour=not lessons and root is None, stream=stream, disable=disable)
    results = []
    try:
        for i, path in enumerate(paths, 1):
            label = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
            bar.write(f"[{i}/{len(paths)}] lesson {path.stem[:2]}: {label}")
            bar.lesson(i, label, sum(not c.markdown for c in read_cells(path)))
            result = run_lesson(path, out_root, budget=budget, data=data, verbose=verbose, bar=bar)
            if result.get("error"):
                bar.write(f"    FAILED after {result['seconds']} s: {result['error']}")
                tail = result.get("traceback", "").strip().splitlines()[-12:]
                bar.write("\n".join("      " + line for line in tail))
                bar.write(f"    everything it printed: {out_root / path.stem / 'log.txt'}")
            else:
                verdict = result.get("verdict")
                if verdict:
                    said = f"point {'shown' if verdict['shown'] else 'NOT shown'}: {verdict['evidence']}"
                else:
                    said = ", ".join(f"{k} {fmt(v)}" for k, v in list(result.get("metrics", {}).items())[:2])
                bar.write(f"    done in {result['seconds']} s" + (f"; {said}" if said else ""))
            results.append(result)
        bar.lesson_label, bar.cell_label = "the report", "index.html, README.md, a preview of each lesson"
        index, readme = write_report(results, out_root, budget, data, threads)
        if previews:
            with _ticking(bar):
                _previews(results, out_root, bar)
    finally:
        bar.close()
    summary = [{k: r.get(k) for k in ("dir", "title", "budget", "seconds", "cpu_seconds", "verdict", "claims",
                                      "training", "metrics", "error")} for r in results]
    (out_root / "tour.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return TourReport(index, readme, results)
